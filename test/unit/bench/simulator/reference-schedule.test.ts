import { describe, expect, it } from 'vitest'
import { BIG_PARALLEL, type Derivation } from '../../../../bench/simulator/graph.ts'
import { mixedGraph } from '../../../../bench/simulator/graphs.ts'
import { placedLowerBound } from '../../../../bench/simulator/lower-bound.ts'
import { machineSets, SYSTEM, type Machine } from '../../../../bench/simulator/machines.ts'
import { TRANSFER_SECONDS } from '../../../../bench/simulator/pool.ts'
import { listSchedule, longestPathPlan, searchReference } from '../../../../bench/simulator/reference-schedule.ts'
import { createRng } from '../../../../bench/simulator/rng.ts'
import type { Placement } from '../../../../bench/simulator/simulate.ts'

const drv = (id: number, work: number, inputs: number[] = [], requiredFeatures: string[] = []): Derivation =>
  ({ id, name: `d${id}`, system: SYSTEM, requiredFeatures, work, pastWork: work, inputs })
const machine = (name: string, speed: number, cores: number, slots: number): Machine =>
  ({ name, local: false, systems: [SYSTEM], supportedFeatures: [BIG_PARALLEL], mandatoryFeatures: [], slots, cores, speed })

describe('the reference schedule', () => {
  it('moves a big-parallel build off the fastest machine when waiting for it ends later', () => {
    // Each alone: 20 s on f's 8 cores, 32 s on g's 5. One after the other on f ends at 40.6.
    const graph = { name: 'two giants', derivations: [drv(0, 160, [], [BIG_PARALLEL]), drv(1, 160, [], [BIG_PARALLEL])] }
    const machines = [machine('f', 1, 8, 1), machine('g', 1, 5, 1)]
    expect(listSchedule(graph, machines, longestPathPlan(graph, machines)).makespan).toBeCloseTo(2 * (TRANSFER_SECONDS + 20))
    const searched = searchReference(graph, machines, createRng(1), 200)
    expect(searched.makespan).toBeCloseTo(TRANSFER_SECONDS + 32)
    expect(searched.placements.map((p) => p.machine).sort()).toEqual(['f', 'g'])
  })

  it('keeps ordinary builds off a big-parallel build\'s cores when the chain after it is what the run waits for', () => {
    // A 80-unit giant on f's 8 cores, then a 40-unit build; three 5-unit builds would share f's
    // cores with the giant (s is 4x slower) and hold up the chain.
    const graph = { name: 'giant and chain', derivations: [drv(0, 80, [], [BIG_PARALLEL]), drv(1, 40, [0]), drv(2, 5), drv(3, 5), drv(4, 5)] }
    const machines = [machine('f', 1, 8, 4), machine('s', 0.25, 4, 4)]
    const greedy = listSchedule(graph, machines, longestPathPlan(graph, machines)).makespan
    const searched = searchReference(graph, machines, createRng(1), 300)
    expect(searched.makespan).toBeCloseTo(2 * TRANSFER_SECONDS + 10 + 40)
    expect(greedy).toBeGreaterThan(searched.makespan + 1)
  })

  it('under an overload threshold, starts nothing on a builder whose cores a big-parallel build fills', () => {
    // Three 5-unit builds become ready at 1.3 s, while a 80-unit giant computes on f's 8 cores.
    const graph = { name: 'giant and ready builds', derivations: [drv(0, 80, [], [BIG_PARALLEL]), drv(1, 1), drv(2, 5, [1]), drv(3, 5, [1]), drv(4, 5, [1])] }
    const machines = [machine('f', 1, 8, 4), machine('s', 0.25, 4, 4)]
    const plan = longestPathPlan(graph, machines)
    const beside = (placements: Placement[]): number => {
      const giant = placements.find((p) => p.id === 0) as Placement
      return placements.filter((p) => p.id >= 2 && p.machine === 'f' && p.start < giant.end).length
    }
    expect(beside(listSchedule(graph, machines, plan).placements)).toBe(3)
    const kept = listSchedule(graph, machines, plan, 0.8)
    expect(beside(kept.placements)).toBe(0)
    expect(kept.placements.filter((p) => p.id >= 2).map((p) => p.machine)).toEqual(['s', 's', 's'])
  })

  it('runs every build once, after its inputs, within each machine\'s slots, and never under the lower bound', () => {
    const graph = mixedGraph(createRng(1))
    const { machines } = machineSets[1] as (typeof machineSets)[number]
    const { makespan, placements } = searchReference(graph, machines, createRng(2), 100)
    expect(placements.map((p) => p.id).sort((a, b) => a - b)).toEqual(graph.derivations.map((d) => d.id))
    const end = new Map(placements.map((p) => [p.id, p.end]))
    for (const p of placements) {
      for (const i of graph.derivations[p.id]?.inputs ?? []) expect(p.start).toBeGreaterThanOrEqual(end.get(i) as number)
    }
    for (const m of machines) {
      const mine = placements.filter((p) => p.machine === m.name)
      for (const p of mine) expect(mine.filter((q) => q.start <= p.start && q.end > p.start).length).toBeLessThanOrEqual(m.slots)
    }
    expect(makespan).toBeGreaterThanOrEqual(placedLowerBound(graph, machines))
  })
})
