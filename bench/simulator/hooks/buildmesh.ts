import { defaultPlanPolicy, planBuild, type Candidate, type PlanPolicy, type QueuedBuild } from '../../../scheduler/plan-build.ts'
import { isBigParallel } from '../graph.ts'
import type { Hook, MachineView, StartedBuild } from '../hook.ts'

export interface BuildmeshHookInit {
  /**
   * The agent keeps past durations by derivation name, and tells planBuild this build's, the
   * running builds' and the waiting builds'. Without, planBuild knows no work at all.
   */
  history: boolean
  policy?: PlanPolicy
}

/** What a build past its expected end is still expected to need, as a share of its estimate. */
const OVERRUN = 0.25

/** A waiting build Nix has not asked about for this long has gone away. */
const FORGET_WAITING_SECONDS = 60

interface Waiting extends QueuedBuild {
  askedAt: number
  /** What brings Nix back to it: a decline that found no local slot, or a postpone. */
  until: 'build-end' | 'poll'
}

/**
 * Our hook: planBuild on what the agent can know. Every machine's live status; the builds it has
 * seen start there, and when; the builds it told to wait; past durations by name.
 */
export function buildmeshHook (init: BuildmeshHookInit): Hook {
  const policy = { ...defaultPlanPolicy, ...init.policy }
  // Nix starts a build we declined a round later, at the same instant; until then its slot looks
  // free, and another request in the same round would be offered it too.
  const promisedLocal = new Map<string, number>()
  const waiting = new Map<string, Waiting>()

  const threads = (b: StartedBuild, v: MachineView): number => isBigParallel(b) ? Math.min(v.machine.cores, policy.bigParallelCores) : 1
  const endsIn = (b: StartedBuild, v: MachineView, now: number): number[] => {
    const work = b.pastWork ?? (isBigParallel(b) ? policy.bigParallelWork : undefined)
    if (work === undefined) return []
    const wanted = v.running.reduce((sum, r) => sum + threads(r, v), 0)
    const seconds = (v.machine.local ? 0 : policy.transferSeconds) + work / (v.machine.speed * threads(b, v) * Math.min(1, v.machine.cores / wanted))
    return [Math.max(b.startedAt + seconds - now, seconds * OVERRUN)]
  }
  const candidate = (v: MachineView, now: number): Candidate => ({
    ...v.machine,
    slotsInUse: v.running.length + (v.machine.local ? promisedLocal.size : 0),
    load: v.load,
    endsIn: init.history ? v.running.flatMap((b) => endsIn(b, v, now)) : undefined
  })
  // Nix asks again about a goal that found no local slot when any build ends, all of them in name
  // order, and about a postponed one at its next poll.
  const queueFor = (name: string, now: number, candidates: Candidate[]): QueuedBuild[] => {
    const nextEnd = Math.min(policy.pollSeconds, ...candidates.flatMap((c) => c.endsIn ?? []))
    const queue: QueuedBuild[] = []
    for (const [other, w] of waiting) {
      const askedAgainIn = w.until === 'poll' ? Math.max(0, w.askedAt + policy.pollSeconds - now)
        : w.askedAt < now && other > name ? 0 : nextEnd
      queue.push({ system: w.system, requiredFeatures: w.requiredFeatures, expectedWork: w.expectedWork, askedAgainIn })
    }
    return queue
  }

  return (request, pool) => {
    const local = pool.machines.find((v) => v.machine.local)
    for (const [name, at] of promisedLocal) {
      if (at < pool.now || name === request.name || local?.running.some((b) => b.name === name) === true) promisedLocal.delete(name)
    }
    waiting.delete(request.name)
    for (const [name, w] of waiting) if (w.askedAt < pool.now - FORGET_WAITING_SECONDS) waiting.delete(name)

    const candidates = pool.machines.map((v) => candidate(v, pool.now))
    const master = candidates.find((c) => c.local)
    const amWilling = request.amWilling && (master === undefined || master.slotsInUse < master.slots)
    const needs = { system: request.system, requiredFeatures: request.requiredFeatures, expectedWork: init.history ? request.pastWork : undefined }
    const queue = init.history ? queueFor(request.name, pool.now, candidates) : undefined
    const decision = planBuild({ ...needs, amWilling, queue }, candidates, policy)
    switch (decision.kind) {
      case 'remote':
        return { kind: 'accept', machine: decision.name }
      case 'postpone':
        if (init.history) waiting.set(request.name, { ...needs, askedAt: pool.now, until: 'poll' })
        return { kind: 'postpone' }
      case 'local':
        if (amWilling) promisedLocal.set(request.name, pool.now)
        else if (init.history) waiting.set(request.name, { ...needs, askedAt: pool.now, until: 'build-end' })
        return { kind: 'decline' }
      case 'impossible':
        return { kind: 'decline' }
    }
  }
}
