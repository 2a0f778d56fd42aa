/**
 * Whenever one of its builds ends, Nix asks its hook again about every build waiting for a slot,
 * one after the other in the order of its goals, and waits for each answer: on 200 short builds
 * that is some 18,000 questions, nearly all answered "keep waiting". The agent answers the rest
 * of such a round in advance, so the hook can give those answers without asking it.
 */

import { goalKey } from './derivation.ts'
import { canStartNow, planBuild, type BuildRequest, type Candidate, type PlanPolicy } from './plan-build.ts'
import type { NixRun } from './nix-run.ts'
import type { WaitingBuilds } from './waiting-builds.ts'
import { MAX_ANSWERED_AHEAD } from '../wire/control.ts'

/** The agent's `maxPlans`: 16 waiters weighed cost Nix about a millisecond more on that answer. */
export const FORECAST_PLANS = 16

export interface RoundForecast {
  /** The build just decided: Nix asks only about those after it in its order (`goalKey`) in this round. */
  after: string
  /** What the agent knows once it has answered that build. */
  waiting: WaitingBuilds
  /** The run of Nix that asked: only its own waiters are in its round. */
  nixRun?: NixRun
  candidates: Candidate[]
  /** What every request of the round has in common: amWilling as the agent counts it, the typical works, the running chains. */
  common: Pick<BuildRequest, 'amWilling' | 'typicalWork' | 'typicalBigParallelWork' | 'runningChainsEndIn'>
  now: number
  policy: PlanPolicy
  /**
   * How many waiters it weighs against the queue, where some machine has a free slot (about 60
   * µs each with 150 waiting; Nix waits for them too). Where none has, waiting is the answer
   * whatever the queue, and costs next to nothing to find.
   */
  maxPlans: number
}

export interface Forecast {
  /** The keys Nix will ask about next in this round, in order, each to be told to keep waiting. */
  declines: string[]
  /** How many of them took a plan against the whole queue. */
  plans: number
}

/**
 * The build-end waiters after `after`, in Nix's order, that planBuild would tell to keep waiting
 * if asked now, each asked in turn as the agent would be: it stops at the first that would
 * start somewhere, since that changes the answers after it.
 */
export function forecastDeclines (f: RoundForecast): Forecast {
  const declines: string[] = []
  let plans = 0
  // A round never starts a local build: amWilling stays as it is until the next one.
  if (f.common.amWilling) return { declines, plans }
  const scratch = f.waiting.clone()
  const after = goalKey(f.after)
  const later = scratch.buildEndWaiters(f.nixRun)
    .map((w) => ({ ...w, order: goalKey(w.key) }))
    .filter((w) => w.order > after)
    .sort((a, b) => a.order < b.order ? -1 : a.order > b.order ? 1 : 0)
  for (const { key, build } of later.slice(0, MAX_ANSWERED_AHEAD)) {
    const request: BuildRequest = { ...f.common, ...build }
    const free = canStartNow(request, f.candidates, f.policy)
    if (free && plans >= f.maxPlans) break
    scratch.asked(key, f.now)
    if (free) plans++
    const decision = planBuild({ ...request, queue: free ? scratch.queue(f.now, f.candidates) : [] }, f.candidates, f.policy)
    if (decision.kind !== 'local') break
    scratch.wait(key, build, 'build-end', f.now, f.nixRun)
    declines.push(key)
  }
  return { declines, plans }
}
