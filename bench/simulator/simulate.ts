import { dependents, type BuildGraph, type Derivation } from './graph.ts'
import type { Hook, PoolView } from './hook.ts'
import { master, matches, type Machine } from './machines.ts'
import { Pool, type Build } from './pool.ts'

/** Nix's `pollInterval`: how long a postponed goal sleeps before it asks the hook again. */
export const POLL_SECONDS = 5

export interface Placement {
  id: number
  machine: string
  start: number
  end: number
}

export interface SimulationResult {
  makespan: number
  placements: Placement[]
  hookCalls: number
}

/**
 * What a hook costs Nix's worker, which waits for each answer and does nothing else meanwhile
 * (`npm run bench:hook` measures both with real Nix).
 */
export interface HookCosts {
  /** Seconds per answer. */
  answerSeconds: number
  /** Seconds more for an accept: Nix starts a new hook process for its next request and waits for it. */
  newHookSeconds: number
  /** Seconds more for an answer the hook reads the store for first (`readStore`). */
  storeQuerySeconds?: number
  /** Seconds, instead of answerSeconds, for an answer the hook gives itself (`served`). */
  servedSeconds?: number
  /** Seconds more for each waiter the agent weighed to answer ahead (`plansAhead`). */
  planAheadSeconds?: number
}

export const FREE_HOOK: HookCosts = { answerSeconds: 0, newHookSeconds: 0 }

/** A woken goal either asks the hook, or (after a decline) tries to take a local slot. */
interface Wake {
  id: number
  step: 'hook' | 'local'
}

/**
 * Replays `graph` the way Nix's worker drives a build hook (guix-daemon's is the same code):
 * - woken goals run in rounds, each round in order of derivation name; a derivation wakes when
 *   its last input is built;
 * - a woken goal asks the hook first, always, with amWilling = a local slot is free;
 * - accept: the build runs on that builder;
 * - decline: the goal yields, and in the next round builds locally if a slot is still free,
 *   otherwise it waits for any build to end and asks the hook again;
 * - postpone: the goal sleeps until the next poll, every 5 s while anything sleeps;
 * - Nix waits for each answer, and after an accept for a new hook (`costs`); builds that end
 *   meanwhile are seen once the round is done.
 */
export function simulate (graph: BuildGraph, machines: Machine[], hook: Hook, costs: HookCosts = FREE_HOOK): SimulationResult {
  const local = master(machines)
  const byName = new Map(machines.map((m) => [m.name, m]))
  const pool = new Pool(machines)
  const users = dependents(graph)
  const missing = graph.derivations.map((d) => d.inputs.length)
  const drv = (id: number): Derivation => graph.derivations[id] as Derivation
  const placements: Placement[] = []
  const postponed = new Set<number>()
  const wantSlot = new Set<number>()
  let awake: Wake[] = graph.derivations.filter((d) => d.inputs.length === 0).map((d) => ({ id: d.id, step: 'hook' }))
  let lastWokenUp: number | undefined
  let now = 0
  let hookCalls = 0

  const built = new Set<string>()
  const view = (): PoolView => ({
    now,
    built,
    machines: machines.map((m) => ({
      machine: m,
      load: pool.load(m, now),
      running: pool.builds(m).map((b) => ({ name: b.drv.name, startedAt: b.startedAt, pastWork: b.drv.pastWork, requiredFeatures: b.drv.requiredFeatures }))
    }))
  })
  const start = (id: number, m: Machine): void => { pool.start(drv(id), m, now) }

  // Builds that end while Nix waits for its hook; it notices them once the round is done.
  let endedMeanwhile: Array<{ build: Build, end: number }> = []
  const waitForHook = (seconds: number): void => {
    const until = now + seconds
    for (let next = pool.nextEvent(now); next <= until; next = pool.nextEvent(now)) {
      for (const build of pool.advance(now, next)) endedMeanwhile.push({ build, end: next })
      now = next
    }
    pool.advance(now, until)
    now = until
  }
  const finish = (b: Build, end: number): void => {
    placements.push({ id: b.drv.id, machine: b.machine.name, start: b.startedAt, end })
    built.add(b.drv.name)
    // A build's end wakes every goal waiting for a build slot, and the goals now ready.
    for (const id of wantSlot) awake.push({ id, step: 'hook' })
    wantSlot.clear()
    for (const u of users[b.drv.id] ?? []) {
      missing[u] = (missing[u] as number) - 1
      if (missing[u] === 0) awake.push({ id: u, step: 'hook' })
    }
  }

  const step = (w: Wake, next: Wake[]): void => {
    const d = drv(w.id)
    // Nix counts a local build as running until it sees it end, once the round is done.
    const unseen = endedMeanwhile.filter((e) => e.build.machine === local).length
    const amWilling = pool.builds(local).length + unseen < local.slots
    if (w.step === 'local') {
      if (amWilling) start(w.id, local)
      else wantSlot.add(w.id)
      return
    }
    hookCalls++
    const reply = hook({ amWilling, system: d.system, requiredFeatures: d.requiredFeatures, name: d.name, pastWork: d.pastWork }, view())
    waitForHook(reply.served === true
      ? costs.servedSeconds ?? costs.answerSeconds
      : costs.answerSeconds + (reply.readStore === true ? costs.storeQuerySeconds ?? 0 : 0) + (reply.plansAhead ?? 0) * (costs.planAheadSeconds ?? 0))
    if (reply.kind === 'accept') {
      const m = byName.get(reply.machine)
      if (m === undefined || m.local || !matches(m, d.system, d.requiredFeatures)) throw new Error(`${d.name} accepted for ${reply.machine}, which cannot build it`)
      start(w.id, m)
      waitForHook(costs.newHookSeconds)
    } else if (reply.kind === 'postpone') {
      postponed.add(w.id)
    } else {
      if (!matches(local, d.system, d.requiredFeatures)) throw new Error(`${d.name} declined, and the master cannot build it`)
      next.push({ id: w.id, step: 'local' })
    }
  }

  while (placements.length < graph.derivations.length) {
    while (awake.length > 0) {
      const round = awake.sort((a, b) => drv(a.id).name < drv(b.id).name ? -1 : drv(a.id).name > drv(b.id).name ? 1 : 0)
      awake = []
      for (const w of round) step(w, awake)
      if (awake.length === 0) {
        const ended = endedMeanwhile
        endedMeanwhile = []
        for (const { build, end } of ended) finish(build, end)
      }
    }
    if (placements.length === graph.derivations.length) break
    if (postponed.size === 0) lastWokenUp = undefined
    else lastWokenUp ??= now
    const next = Math.min(pool.nextEvent(now), lastWokenUp === undefined ? Infinity : lastWokenUp + POLL_SECONDS)
    if (next === Infinity) throw new Error(`${graph.name}: nothing runs and nothing will wake`)
    for (const b of pool.advance(now, next)) finish(b, next)
    now = next
    if (lastWokenUp !== undefined && lastWokenUp + POLL_SECONDS <= now) {
      lastWokenUp = now
      for (const id of postponed) awake.push({ id, step: 'hook' })
      postponed.clear()
    }
  }
  return { makespan: now, placements, hookCalls }
}
