import { chainAfter } from '../../../scheduler/dependents.ts'
import { canStartNow, defaultPlanPolicy, expectedRate, fastestSeconds, planBuild, runningWork, type Candidate, type PlanPolicy } from '../../../scheduler/plan-build.ts'
import { chainsEnd, remainingSeconds } from '../../../scheduler/reservations.ts'
import { FORECAST_PLANS, forecastDeclines } from '../../../scheduler/round-forecast.ts'
import { StandingDeclines } from '../../../cli/build-hook/standing-declines.ts'
import { WaitingBuilds } from '../../../scheduler/waiting-builds.ts'
import type { Hook, HookReply, MachineView } from '../hook.ts'

export interface BuildmeshHookInit {
  /**
   * The agent keeps past durations by derivation name, and tells planBuild this build's, the
   * running builds' and the waiting builds'. Without, planBuild knows no work at all.
   */
  history: boolean
  /** The median of the history's work (BuildHistory.typical), when there is history. */
  typicalWork?: number
  /** The same over its `big-parallel` builds (BuildHistory.typicalBigParallel). */
  typicalBigParallelWork?: number
  policy?: PlanPolicy
  /**
   * The graph as the agent reads it from the store (scheduler/dependents.ts): by name, the
   * derivations built from each, and their features. Without, no build has a known chain.
   */
  dependents?: { users: Map<string, string[]>, requiredFeatures: Map<string, string[]>, pastWork: Map<string, number | undefined> }
}

/** StoreDependents' `freshForMs`: how long what one query of the store said is taken as true. */
const STORE_FRESH_SECONDS = 60

/** What the agent notes when it sends a build somewhere: a Reservation, or a LocalBuild. */
interface Sent {
  machine: string
  /** Seconds, on the simulator's clock; the agent's reservations keep milliseconds. */
  at: number
  rate: number
  work: number | undefined
  chainAfter: number | undefined
}

/**
 * Our hook: planBuild fed what scheduler/build-planner.ts feeds it in the agent, and nothing
 * more. Every machine's live status; for each build the agent sent somewhere (a builder, or the
 * master itself), when, at what expected rate, and its work (runningWork), from which it guesses
 * when it ends (remainingSeconds); the builds it told to wait (WaitingBuilds, the same code);
 * past work by derivation name.
 */
export function buildmeshHook (init: BuildmeshHookInit): Hook {
  const policy = { ...defaultPlanPolicy, ...init.policy }
  const typicals = { typicalWork: init.typicalWork, typicalBigParallelWork: init.typicalBigParallelWork }
  const sent = new Map<string, Sent>()
  const waiting = new WaitingBuilds(policy.pollSeconds)
  // The machines never change in a run, so neither does the chain after a name.
  const chains = new Map<string, number>()
  const chainOf = (name: string, system: string, candidates: Candidate[]): number | undefined => {
    const d = init.dependents
    if (d === undefined) return undefined
    let seconds = chains.get(name)
    if (seconds === undefined) {
      const weigh = (u: string): number => fastestSeconds({ system, requiredFeatures: d.requiredFeatures.get(u) ?? [], expectedWork: d.pastWork.get(u), ...typicals }, candidates, policy)
      seconds = chainAfter(name, d.users, weigh)
      chains.set(name, seconds)
    }
    return seconds
  }

  // StoreDependents: one query of the store answers for a derivation and all that waits for it.
  // Nix waits for it only where the build could start now; otherwise it runs meanwhile, and the
  // chain counts from the next ask.
  const readAt = new Map<string, number>()
  const storeKnows = (name: string, now: number): boolean => now - (readAt.get(name) ?? -Infinity) < STORE_FRESH_SECONDS
  const readStore = (name: string, now: number): void => {
    const reached = [name]
    for (let i = 0; i < reached.length; i++) {
      const n = reached[i] as string
      if (readAt.get(n) === now) continue
      readAt.set(n, now)
      reached.push(...init.dependents?.users.get(n) ?? [])
    }
  }

  // The agent hears of a remote build's end from the hook's release, and of a local one from its
  // outputs appearing: here, a build it sent that is built.
  const noticeEnds = (built: ReadonlySet<string>, now: number): void => {
    for (const name of sent.keys()) {
      if (!built.has(name)) continue
      sent.delete(name)
      waiting.buildEnded(now)
    }
  }
  const candidate = (v: MachineView, now: number): Candidate => {
    const mine = [...sent].filter(([, s]) => s.machine === v.machine.name)
    return {
      ...v.machine,
      // What runs there, and what was just sent and has not started yet (kept local, for a round).
      slotsInUse: new Set([...v.running.map((b) => b.name), ...mine.map(([name]) => name)]).size,
      load: v.load,
      endsIn: remainingSeconds(mine.map(([, s]) => ({ ...s, at: s.at * 1000 })), now * 1000)
    }
  }

  // The hook process's own answers ahead; Nix starts a new one after each accept.
  let now = 0
  let standing = new StandingDeclines(() => now * 1000)
  const newHook = (): void => { standing = new StandingDeclines(() => now * 1000) }

  return (request, pool) => {
    now = pool.now
    if (standing.serves(request.name, request.amWilling)) return { kind: 'decline', served: true }
    const served = standing.takeServed()
    for (const name of served.drvPaths) waiting.askedAgain(name, (served.answeredAt ?? pool.now * 1000) / 1000)
    noticeEnds(pool.built, pool.now)
    sent.delete(request.name)
    waiting.asked(request.name, pool.now)
    const candidates = pool.machines.map((v) => candidate(v, pool.now))
    for (const { key, build } of waiting.withoutChain(served.drvPaths)) {
      if (!storeKnows(key, pool.now)) continue
      const c = chainOf(key, build.system, candidates)
      if (c !== undefined) waiting.setChain(key, c)
    }
    const master = candidates.find((c) => c.local)
    // Nix is willing for every goal of a round; the master's own count says whether a slot is left.
    const willing = (cs: Candidate[]): boolean => {
      const local = cs.find((c) => c.local)
      return request.amWilling && (local === undefined || local.slotsInUse < local.slots)
    }
    const amWilling = willing(candidates)
    const needs = { system: request.system, requiredFeatures: request.requiredFeatures, expectedWork: init.history ? request.pastWork : undefined, ...typicals }
    let chain: number | undefined
    let waitedForStore = false
    if (init.dependents !== undefined) {
      const known = storeKnows(request.name, pool.now)
      waitedForStore = !known && canStartNow({ ...needs, amWilling }, candidates, policy)
      if (!known) readStore(request.name, pool.now)
      chain = known || waitedForStore ? chainOf(request.name, request.system, candidates) : undefined
    }
    const reply = (r: HookReply): HookReply => waitedForStore ? { ...r, readStore: true } : r
    // As the agent's reservations and local builds say: what was sent, as of now.
    const runningChainsEnd = (): number | undefined => chainsEnd([...sent.values()].map((s) => ({ ...s, at: s.at * 1000 })), pool.now * 1000)
    // What BuildPlanner.decide adds to an answer that keeps Nix's hook: the rest of the round ahead.
    const ahead = (r: HookReply): HookReply => {
      const after = pool.machines.map((v) => candidate(v, pool.now))
      const { declines, plans } = forecastDeclines({
        after: request.name,
        waiting,
        candidates: after,
        common: { amWilling: willing(after), ...typicals, runningChainsEndIn: runningChainsEnd() },
        now: pool.now,
        policy,
        maxPlans: FORECAST_PLANS
      })
      standing.replace(declines, request.amWilling, pool.now * 1000)
      return reply(plans === 0 ? r : { ...r, plansAhead: plans })
    }
    const waiter = { ...needs, chainAfter: chain }
    const decision = planBuild({ ...needs, amWilling, queue: waiting.queue(pool.now, candidates), chainAfter: chain, runningChainsEndIn: runningChainsEnd() }, candidates, policy)
    const note = (c: Candidate | undefined): void => {
      if (c !== undefined) sent.set(request.name, { machine: c.name, at: pool.now, rate: expectedRate(c, needs, policy), work: runningWork(needs, needs, policy), chainAfter: chain })
    }
    switch (decision.kind) {
      case 'remote':
        note(candidates.find((c) => c.name === decision.name))
        newHook()
        return reply({ kind: 'accept', machine: decision.name })
      case 'postpone':
        waiting.wait(request.name, waiter, 'poll', pool.now)
        return ahead({ kind: 'postpone' })
      case 'local':
        if (amWilling) note(master)
        else waiting.wait(request.name, waiter, 'build-end', pool.now)
        return ahead({ kind: 'decline' })
      case 'impossible':
        return ahead({ kind: 'decline' })
    }
  }
}
