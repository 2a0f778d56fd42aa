import { describe, expect, it } from 'vitest'
import { policies, runAll, type Policy } from '../../../../bench/simulator/compare.ts'
import type { BuildGraph, Derivation } from '../../../../bench/simulator/graph.ts'
import { graphMakers } from '../../../../bench/simulator/graphs.ts'
import type { Hook } from '../../../../bench/simulator/hook.ts'
import { placedLowerBound } from '../../../../bench/simulator/lower-bound.ts'
import { machineSets, SYSTEM, type Machine, type MachineSet } from '../../../../bench/simulator/machines.ts'
import { TRANSFER_SECONDS } from '../../../../bench/simulator/pool.ts'
import { createRng } from '../../../../bench/simulator/rng.ts'
import { POLL_SECONDS, simulate, type SimulationResult } from '../../../../bench/simulator/simulate.ts'

const drv = (id: number, work: number, inputs: number[] = [], name = `d${String(id).padStart(3, '0')}`): Derivation =>
  ({ id, name, system: SYSTEM, requiredFeatures: [], work, pastWork: work, inputs })
const machine = (name: string, local: boolean, slots: number, speed = 1): Machine =>
  ({ name, local, systems: [SYSTEM], supportedFeatures: [], mandatoryFeatures: [], slots, cores: 4, speed })

/** Most builds running on one machine at any instant. */
function peak (result: SimulationResult, name: string): number {
  const edges = result.placements.filter((p) => p.machine === name).flatMap((p) => [[p.start, 1], [p.end, -1]] as const)
  // Ends before starts at the same instant: a slot freed is a slot free.
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1])
  let running = 0
  let most = 0
  for (const [, delta] of edges) {
    running += delta
    most = Math.max(most, running)
  }
  return most
}

function expectInvariants (graph: BuildGraph, machines: Machine[], result: SimulationResult, bound = placedLowerBound(graph, machines)): void {
  const ids = result.placements.map((p) => p.id).sort((a, b) => a - b)
  expect(ids).toEqual(graph.derivations.map((d) => d.id))
  const byId = new Map(result.placements.map((p) => [p.id, p]))
  for (const d of graph.derivations) {
    const p = byId.get(d.id)
    for (const i of d.inputs) expect(p?.start).toBeGreaterThanOrEqual(byId.get(i)?.end ?? Infinity)
  }
  for (const m of machines) expect(peak(result, m.name)).toBeLessThanOrEqual(m.slots)
  expect(result.makespan).toBeGreaterThanOrEqual(bound * (1 - 1e-9))
}

// A smaller independent graph keeps the test quick; its shape is the bench's.
const graphs = [...graphMakers.map((make) => make(createRng(7))), { name: 'small independent', derivations: Array.from({ length: 40 }, (_, i) => drv(i, 1 + (i * 7) % 10)) }]
  .filter((g) => g.name !== 'independent')

describe('simulate', () => {
  for (const graph of graphs) {
    for (const set of machineSets) {
      it(`${graph.name} on ${set.name}: every policy builds each derivation once, after its inputs, within the slots, no sooner than the bound`, () => {
        const bound = placedLowerBound(graph, set.machines)
        for (const policy of policies) {
          const seen = policy.sees?.(graph) ?? graph
          expectInvariants(seen, set.machines, simulate(seen, set.machines, policy.hook(7, seen)), bound)
        }
      })
    }
  }

  it('runs ours-exact on the same graph with a history that is the truth', () => {
    const graph = graphMakers[2]?.(createRng(3)) as BuildGraph
    const exact = policies.find((p) => p.name === 'ours-exact')?.sees?.(graph) as BuildGraph
    const withoutHistory = (d: Derivation): Derivation => ({ ...d, pastWork: undefined })
    expect(exact.derivations.map(withoutHistory)).toEqual(graph.derivations.map(withoutHistory))
    expect(exact.derivations.map((d) => d.pastWork)).toEqual(graph.derivations.map((d) => d.work))
    expect(graph.derivations.some((d) => d.pastWork !== d.work)).toBe(true)
    const run = runAll(graph, machineSets[1] as MachineSet, 3)
    const ours = policies.find((p) => p.name === 'ours') as Policy
    expect(run.makespan['ours-exact']).toBe(simulate(exact, machineSets[1]?.machines as Machine[], ours.hook(3, exact), ours.costs).makespan)
  })

  it('is deterministic for a seed', () => {
    const graph = graphMakers[2]?.(createRng(3)) as BuildGraph
    const set = machineSets[1]?.machines as Machine[]
    for (const policy of policies) {
      expect(simulate(graph, set, policy.hook(3, graph)).makespan).toBe(simulate(graph, set, policy.hook(3, graph)).makespan)
    }
  })

  it('asks about a round of woken goals in order of name, and asks the hook before building locally', () => {
    const graph = { name: 'three', derivations: [drv(0, 1, [], 'c'), drv(1, 1, [], 'a'), drv(2, 1, [], 'b')] }
    const asked: string[] = []
    simulate(graph, [machine('master', true, 3)], (request) => {
      asked.push(request.name)
      return { kind: 'decline' }
    })
    expect(asked).toEqual(['a', 'b', 'c'])
  })

  it('runs an accepted build remotely, after copying, without taking a local slot', () => {
    const graph = { name: 'two', derivations: [drv(0, 4), drv(1, 4)] }
    const machines = [machine('master', true, 1), machine('b1', false, 1, 2)]
    const result = simulate(graph, machines, (request, pool) =>
      pool.machines[1]?.running.length === 0 ? { kind: 'accept', machine: 'b1' } : { kind: 'decline' })
    expect(result.placements.map((p) => [p.machine, p.start, p.end])).toEqual([['b1', 0, TRANSFER_SECONDS + 2], ['master', 0, 4]])
  })

  it('has a declined goal without a local slot wait for a build to end, then ask again', () => {
    const graph = { name: 'two', derivations: [drv(0, 3), drv(1, 3)] }
    const willing: boolean[] = []
    const result = simulate(graph, [machine('master', true, 1)], (request) => {
      willing.push(request.amWilling)
      return { kind: 'decline' }
    })
    expect(result.makespan).toBe(6)
    // Both asked with the slot free (the first build starts a round later), then the loser again.
    expect(willing).toEqual([true, true, true])
  })

  it('has a postponed goal ask again at the next poll, not when a build ends', () => {
    const graph = { name: 'two', derivations: [drv(0, 1), drv(1, 1)] }
    let postponed = false
    const result = simulate(graph, [machine('master', true, 1), machine('b1', false, 1)], (request) => {
      if (request.name === 'd001' && !postponed) {
        postponed = true
        return { kind: 'postpone' }
      }
      return { kind: 'accept', machine: 'b1' }
    })
    const second = result.placements.find((p) => p.id === 1)
    expect(second?.start).toBe(POLL_SECONDS)
  })

  it('has Nix wait for every answer: a round of answers holds up the local builds, and an end is seen after the round', () => {
    const graph = { name: 'two', derivations: [drv(0, 3), drv(1, 3)] }
    const asked: number[] = []
    const result = simulate(graph, [machine('master', true, 1)], (request, pool) => {
      asked.push(pool.now)
      return { kind: 'decline' }
    }, { answerSeconds: 0.5, newHookSeconds: 0 })
    // Both asked (0 and 0.5 s); d000 starts once the round is done (1 s) and ends at 4 s; d001 is
    // asked again then and starts once that answer is in.
    expect(asked).toEqual([0, 0.5, 4])
    expect(result.placements.map((p) => [p.start, p.end])).toEqual([[1, 4], [4.5, 7.5]])
    expect(result.makespan).toBe(7.5)
  })

  it('counts a local build that ends during a round of questions as running until the round is done, as Nix does', () => {
    // a builds locally 2-5 s; b's end on b1 wakes c1-c5 at 2.5 s, asked 1 s apart until 7.5 s.
    const graph = { name: 'local end in a round', derivations: [drv(0, 3, [], 'a'), drv(1, 0.2, [], 'b'), ...[1, 2, 3, 4, 5].map((k) => drv(1 + k, 1, [1], `c${k}`))] }
    const asked: Array<[string, number, boolean]> = []
    simulate(graph, [machine('master', true, 1), machine('b1', false, 4, 1)], (request, pool) => {
      asked.push([request.name, pool.now, request.amWilling])
      return request.name === 'b' ? { kind: 'accept', machine: 'b1' } : { kind: 'decline' }
    }, { answerSeconds: 1, newHookSeconds: 0 })
    const firstRound = asked.filter(([name]) => name.startsWith('c')).slice(0, 5)
    expect(firstRound.map(([name, at]) => [name, at])).toEqual([['c1', 2.5], ['c2', 3.5], ['c3', 4.5], ['c4', 5.5], ['c5', 6.5]])
    expect(firstRound.map(([, , willing]) => willing)).toEqual([false, false, false, false, false])
    // Seen once the round is done: each is asked again, with the slot free.
    expect(asked[7]).toEqual(['c1', 7.5, true])
  })

  it('has Nix start a new hook after each accept before it asks again', () => {
    const graph = { name: 'two', derivations: [drv(0, 4), drv(1, 4)] }
    const result = simulate(graph, [machine('master', true, 1), machine('b1', false, 2)], () => ({ kind: 'accept', machine: 'b1' }), { answerSeconds: 0.25, newHookSeconds: 1 })
    expect(result.placements.map((p) => p.start)).toEqual([0.25, 1.5])
  })

  it('has Nix wait for the store query of an answer that read the store', () => {
    const graph = { name: 'two', derivations: [drv(0, 4), drv(1, 4)] }
    const readFirst: Hook = (request) => ({ kind: 'accept', machine: 'b1', ...(request.name === 'd000' ? { readStore: true } : {}) })
    const result = simulate(graph, [machine('master', true, 1), machine('b1', false, 2)], readFirst, { answerSeconds: 0.25, newHookSeconds: 1, storeQuerySeconds: 2 })
    expect(result.placements.map((p) => p.start)).toEqual([2.25, 3.5])
  })

  it('charges an answer the hook gave itself its own cost, and an answer ahead the plans the agent weighed', () => {
    const graph = { name: 'two', derivations: [drv(0, 4), drv(1, 4)] }
    const asked: number[] = []
    simulate(graph, [machine('master', true, 1)], (request, pool) => {
      asked.push(pool.now)
      return request.name === 'd000' ? { kind: 'decline', plansAhead: 2 } : { kind: 'decline', served: true }
    }, { answerSeconds: 0.5, newHookSeconds: 0, servedSeconds: 0.125, planAheadSeconds: 0.25 })
    // d000: 0.5 s and two plans; d001, served: 0.125 s more.
    expect(asked.slice(0, 2)).toEqual([0, 1])
    expect(asked[2]).toBe(1.125 + 4)
  })

  it('refuses a hook that overfills a builder', () => {
    const graph = { name: 'two', derivations: [drv(0, 1), drv(1, 1)] }
    const greedy: Hook = () => ({ kind: 'accept', machine: 'b1' })
    expect(() => simulate(graph, [machine('master', true, 1), machine('b1', false, 1)], greedy)).toThrow(/slots are all in use/)
  })
})
