import { dependents, isBigParallel, topologicalOrder, type BuildGraph, type Derivation } from './graph.ts'
import { matches, type Machine } from './machines.ts'
import { aloneSeconds, Pool, TRANSFER_SECONDS } from './pool.ts'
import type { Rng } from './rng.ts'
import type { Placement } from './simulate.ts'

/**
 * How a list scheduler that knows everything places a graph. Whenever a slot frees, the ready
 * builds are taken highest `priority` first: a `big-parallel` one starts on its own machine if
 * that has a slot, and waits otherwise; any other on the free slot where it would end soonest,
 * except beside a `big-parallel` build on a machine already running `besideBig` others, as those
 * would take cores from it. Under an overload threshold, no build starts on a builder whose load
 * is at or over it, as the eligibility rule has it for ours.
 */
export interface ReferencePlan {
  priority: number[]
  /** Machine index, by derivation id, for each `big-parallel` derivation. */
  machineOf: Map<number, number>
  besideBig: number[]
}

export interface ReferenceSchedule {
  makespan: number
  placements: Placement[]
}

/**
 * Replays `graph` under `plan` on the simulator's machines: the same cores, sharing and copying.
 * With `overloadThreshold`, a builder at or over that load takes nothing new; the master has
 * only its slots, as Nix's max-jobs.
 */
export function listSchedule (graph: BuildGraph, machines: Machine[], plan: ReferencePlan, overloadThreshold = Infinity): ReferenceSchedule {
  const ds = graph.derivations
  const users = dependents(graph)
  const missing = ds.map((d) => d.inputs.length)
  const pool = new Pool(machines)
  const placements: Placement[] = []
  let ready = ds.filter((d) => d.inputs.length === 0).map((d) => d.id)
  let now = 0
  const takesMore = (m: Machine): boolean => pool.builds(m).length < m.slots && (m.local || pool.load(m, now) < overloadThreshold)
  while (placements.length < ds.length) {
    ready.sort((a, b) => (plan.priority[b] as number) - (plan.priority[a] as number))
    const waiting: number[] = []
    for (const id of ready) {
      const d = ds[id] as Derivation
      const target = isBigParallel(d) ? machines[plan.machineOf.get(id) ?? -1] : fastestFreeSlot(d, machines, pool, plan, takesMore)
      if (target !== undefined && takesMore(target) && matches(target, d.system, d.requiredFeatures)) pool.start(d, target, now)
      else waiting.push(id)
    }
    ready = waiting
    const next = pool.nextEvent(now)
    if (next === Infinity) throw new Error(`${graph.name}: the plan leaves builds that can never start`)
    for (const b of pool.advance(now, next)) {
      placements.push({ id: b.drv.id, machine: b.machine.name, start: b.startedAt, end: next })
      for (const u of users[b.drv.id] ?? []) {
        missing[u] = (missing[u] as number) - 1
        if (missing[u] === 0) ready.push(u)
      }
    }
    now = next
  }
  return { makespan: now, placements }
}

function fastestFreeSlot (d: Derivation, machines: Machine[], pool: Pool, plan: ReferencePlan, takesMore: (m: Machine) => boolean): Machine | undefined {
  let best: Machine | undefined
  let bestEnd = Infinity
  for (const [k, m] of machines.entries()) {
    const running = pool.builds(m)
    if (!takesMore(m) || !matches(m, d.system, d.requiredFeatures)) continue
    if (running.some((b) => isBigParallel(b.drv)) && running.filter((b) => !isBigParallel(b.drv)).length >= (plan.besideBig[k] as number)) continue
    const demand = running.reduce((sum, b) => sum + b.threads, 0)
    const end = (m.local ? 0 : TRANSFER_SECONDS) + d.work / (m.speed * Math.min(1, m.cores / (demand + 1)))
    if (end < bestEnd) {
      bestEnd = end
      best = m
    }
  }
  return best
}

/**
 * The list schedule that starts from the longest remaining path first, every `big-parallel`
 * build on the machine fastest for it and nothing held back beside it.
 */
export function longestPathPlan (graph: BuildGraph, machines: Machine[]): ReferencePlan {
  const ds = graph.derivations
  const seconds = (d: Derivation, m: Machine): number => matches(m, d.system, d.requiredFeatures) ? aloneSeconds(d, m) : Infinity
  const users = dependents(graph)
  const priority = ds.map(() => 0)
  for (const id of [...topologicalOrder(graph)].reverse()) {
    const d = ds[id] as Derivation
    priority[id] = Math.min(...machines.map((m) => seconds(d, m))) + Math.max(0, ...(users[id] ?? []).map((u) => priority[u] as number))
  }
  const machineOf = new Map(ds.filter(isBigParallel).map((d) => {
    const times = machines.map((m) => seconds(d, m))
    return [d.id, times.indexOf(Math.min(...times))]
  }))
  return { priority, machineOf, besideBig: machines.map((m) => m.slots) }
}

/**
 * The shortest schedule simulated annealing finds from `longestPathPlan`, moving a
 * `big-parallel` build to another machine, nudging priorities, or changing what may run beside a
 * `big-parallel` build. Not an optimum: a reference for what knowing everything is worth, that a
 * hook answering Nix one build at a time can only approach. With `overloadThreshold`, every
 * schedule it tries keeps that rule (`listSchedule`).
 */
export function searchReference (graph: BuildGraph, machines: Machine[], rng: Rng, iterations: number, overloadThreshold = Infinity): ReferenceSchedule {
  const bigs = graph.derivations.filter(isBigParallel).map((d) => d.id)
  const able = new Map(bigs.map((id) => {
    const d = graph.derivations[id] as Derivation
    return [id, machines.flatMap((m, k) => matches(m, d.system, d.requiredFeatures) ? [k] : [])]
  }))
  let plan = longestPathPlan(graph, machines)
  let current = listSchedule(graph, machines, plan, overloadThreshold)
  let best = current
  const scale = current.makespan
  let temperature = 0.02 * scale
  for (let i = 0; i < iterations; i++) {
    const next: ReferencePlan = { priority: [...plan.priority], machineOf: new Map(plan.machineOf), besideBig: [...plan.besideBig] }
    const move = rng.next()
    if (move < 0.35 && bigs.length > 0) {
      const id = bigs[rng.int(0, bigs.length - 1)] as number
      const choices = able.get(id) as number[]
      next.machineOf.set(id, choices[rng.int(0, choices.length - 1)] as number)
    } else if (move < 0.85 || bigs.length === 0) {
      for (let k = 0; k < 5; k++) {
        const id = rng.int(0, graph.derivations.length - 1)
        next.priority[id] = (next.priority[id] as number) + (rng.next() - 0.5) * 0.3 * scale
      }
    } else {
      const k = rng.int(0, machines.length - 1)
      next.besideBig[k] = rng.int(0, (machines[k] as Machine).slots)
    }
    const tried = listSchedule(graph, machines, next, overloadThreshold)
    // Worse plans are taken now and then, less often as the search cools, to leave local optima.
    if (tried.makespan < current.makespan || rng.next() < Math.exp((current.makespan - tried.makespan) / temperature)) {
      plan = next
      current = tried
      if (current.makespan < best.makespan) best = current
    }
    temperature *= 0.999
  }
  return best
}
