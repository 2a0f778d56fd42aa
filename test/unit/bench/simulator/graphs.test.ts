import { describe, expect, it } from 'vitest'
import { isBigParallel, topologicalOrder } from '../../../../bench/simulator/graph.ts'
import { bootstrapGraph, graphMakers, independentGraph, mixedGraph } from '../../../../bench/simulator/graphs.ts'
import { createRng } from '../../../../bench/simulator/rng.ts'

describe('generated graphs', () => {
  it('are acyclic, with inputs that exist, and the same for the same seed', () => {
    for (const make of graphMakers) {
      const graph = make(createRng(11))
      expect(topologicalOrder(graph)).toHaveLength(graph.derivations.length)
      for (const d of graph.derivations) for (const i of d.inputs) expect(graph.derivations[i]).toBeDefined()
      expect(make(createRng(11))).toEqual(graph)
      expect(make(createRng(12))).not.toEqual(graph)
    }
  })

  it('bootstrap: a chain of 20 stages with fan-outs of 30 to 60', () => {
    const graph = bootstrapGraph(createRng(5))
    const users = new Map<number, number>()
    for (const d of graph.derivations) for (const i of d.inputs) users.set(i, (users.get(i) ?? 0) + 1)
    const fanOuts = [...users.values()].filter((n) => n > 1)
    expect(fanOuts).toHaveLength(6)
    for (const n of fanOuts) expect(n - 1).toBeGreaterThanOrEqual(29)
    // The longest chain of derivations with real work is the 20 stages, plus a package and the profile.
    const depth = new Map<number, number>()
    for (const id of topologicalOrder(graph)) depth.set(id, 1 + Math.max(0, ...(graph.derivations[id]?.inputs ?? []).map((i) => depth.get(i) ?? 0)))
    expect(Math.max(...depth.values())).toBeGreaterThanOrEqual(20)
  })

  it('independent: 200 builds of 1 to 10 s with no inputs', () => {
    const graph = independentGraph(createRng(5))
    expect(graph.derivations).toHaveLength(200)
    for (const d of graph.derivations) {
      expect(d.inputs).toEqual([])
      expect(d.work).toBeGreaterThanOrEqual(1)
      expect(d.work).toBeLessThanOrEqual(10)
    }
  })

  it('mixed: eight big-parallel giants', () => {
    expect(mixedGraph(createRng(5)).derivations.filter(isBigParallel)).toHaveLength(8)
  })
})
