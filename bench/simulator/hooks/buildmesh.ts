import { defaultPlanPolicy, planBuild, type Candidate, type PlanPolicy, type QueuedBuild } from '../../../scheduler/plan-build.ts'
import { isBigParallel } from '../graph.ts'
import type { Hook, MachineView, StartedBuild } from '../hook.ts'

export interface BuildmeshHookInit {
  /** Let planBuild know past durations of derivation names; without, it knows no work at all. */
  history: boolean
  policy?: PlanPolicy
}

/** What a build past its expected end is still expected to need, as a share of its estimate. */
const OVERRUN = 0.25

/** A build told to wait that Nix has not asked about for this long has gone away. */
const FORGET_WAITING_SECONDS = 60

/**
 * Our hook: planBuild on what the agent can have: every machine's live status; the builds it
 * has seen start, and when; the builds it told to wait; and what builds of the same name took.
 */
export function buildmeshHook (init: BuildmeshHookInit): Hook {
  const policy = { ...defaultPlanPolicy, ...init.policy }
  // Nix starts a build we declined one round later, at the same instant; until then the slot it
  // takes looks free, and a second request in the same round would be told the same slot.
  const promisedLocal = new Map<string, number>()
  const waiting = new Map<string, QueuedBuild & { askedAt: number, until: 'build-end' | 'poll' }>()

  // Cores each build there keeps busy, shared out when they want more than the machine has.
  const threads = (b: StartedBuild, v: MachineView): number => isBigParallel(b) ? Math.min(v.machine.cores, policy.bigParallelCores) : 1
  const endsIn = (b: StartedBuild, v: MachineView, now: number): number[] => {
    const work = b.pastWork ?? (isBigParallel(b) ? policy.bigParallelWork : undefined)
    if (work === undefined) return []
    const wanted = v.running.reduce((sum, r) => sum + threads(r, v), 0)
    const rate = v.machine.speed * threads(b, v) * Math.min(1, v.machine.cores / wanted)
    const seconds = (v.machine.local ? 0 : policy.transferSeconds) + work / rate
    // A build past its expected end is expected to need a quarter of its estimate more.
    return [Math.max(b.startedAt + seconds - now, seconds * OVERRUN)]
  }
  const candidate = (v: MachineView, now: number): Candidate => ({
    ...v.machine,
    slotsInUse: v.running.length + (v.machine.local ? promisedLocal.size : 0),
    load: v.load,
    ...(init.history ? { endsIn: v.running.flatMap((b) => endsIn(b, v, now)) } : {})
  })

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
    const expectedWork = init.history ? request.pastWork : undefined
    const needs = { system: request.system, requiredFeatures: request.requiredFeatures, ...(expectedWork === undefined ? {} : { expectedWork }) }
    // Nix asks a goal it left waiting for a slot again when any build ends, in name order, and a
    // postponed one at its next poll.
    const nextEnd = Math.min(policy.pollSeconds, ...candidates.flatMap((c) => c.endsIn ?? []))
    const queue = [...waiting].map(([name, w]) => ({
      system: w.system,
      requiredFeatures: w.requiredFeatures,
      ...(w.expectedWork === undefined ? {} : { expectedWork: w.expectedWork }),
      askedAgainIn: w.until === 'poll' ? Math.max(0, w.askedAt + policy.pollSeconds - pool.now)
        : w.askedAt < pool.now && name > request.name ? 0 : nextEnd
    }))
    const decision = planBuild({ ...needs, amWilling, ...(init.history ? { queue } : {}) }, candidates, policy)
    switch (decision.kind) {
      case 'remote':
        return { kind: 'accept', machine: decision.name }
      case 'postpone':
        waiting.set(request.name, { ...needs, askedAt: pool.now, until: 'poll' })
        return { kind: 'postpone' }
      default:
        if (decision.kind === 'local' && amWilling) promisedLocal.set(request.name, pool.now)
        else waiting.set(request.name, { ...needs, askedAt: pool.now, until: 'build-end' })
        return { kind: 'decline' }
    }
  }
}
