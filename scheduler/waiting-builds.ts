import { sameRun, type NixRun } from './nix-run.ts'
import type { BuildRequest, Candidate, QueuedBuild } from './plan-build.ts'

/** What brings Nix back to a build it was told to wait for. */
export type WaitingFor =
  /** A decline with no local slot: Nix asks again when any of its builds ends. */
  | 'build-end'
  /** A postpone: Nix asks again at its next poll. */
  | 'poll'

interface Waiting extends QueuedBuild {
  /** Seconds, on the caller's clock. */
  askedAt: number
  until: WaitingFor
  nixRun?: NixRun
  /** Its run's poll interval, where not the usual one. */
  pollSeconds?: number
}

/** A build end it learnt of, and the run of Nix whose build it was (`sameRun`). */
interface End {
  at: number
  nixRun?: NixRun
}

/**
 * The builds the master told Nix to wait for, so planBuild can weigh the one it is asked about
 * against them: a short build should not take the fast slot a longer waiting one is about to ask
 * for. Nix never says which goals wait; the hook's own answers do. Times are in seconds on any
 * clock that only moves forward (the agent's, or the simulator's).
 */
export class WaitingBuilds {
  private readonly byKey = new Map<string, Waiting>()
  private readonly pollSeconds: number
  private readonly forgetAfter: number
  /** The ends it learnt of, the last `forgetAfter` seconds of them, oldest first. */
  private ends: End[] = []
  private readonly roundSeconds: number
  /** When it last looked for waiters gone: the agent's answer ahead asks it once per waiter, all at one time. */
  private prunedAt = -Infinity

  /**
   * `pollSeconds` is Nix's `pollInterval`. A waiter not asked about again for `forgetAfter`
   * seconds has gone away (Nix was stopped, or its own hook took over). So has a build-end
   * waiter not asked about again `roundSeconds` after a build of its run ended: Nix asks every
   * one in the round right after an end, so this one was built meanwhile. That happens: with a
   * local slot free, Nix gives it to the first goal by name that the hook declined, which may be
   * one the agent told to wait. Kept, it would hold a claim on every free slot for a minute.
   */
  constructor (pollSeconds: number, forgetAfter = 60, roundSeconds = 2) {
    this.pollSeconds = pollSeconds
    this.forgetAfter = forgetAfter
    this.roundSeconds = roundSeconds
  }

  /** Nix asks about `key` (a derivation path) again: it waits no more. */
  asked (key: string, now: number): void {
    this.byKey.delete(key)
    if (now === this.prunedAt) return
    this.prunedAt = now
    this.ends = this.ends.filter((e) => e.at >= now - this.forgetAfter)
    const roundsOver = this.ends.filter((e) => e.at <= now - this.roundSeconds)
    for (const [k, w] of this.byKey) {
      if (w.askedAt < now - this.forgetAfter || (w.until === 'build-end' && w.askedAt < lastOf(roundsOver, w.nixRun))) this.byKey.delete(k)
    }
  }

  /** The master told the run of Nix `nixRun`, which polls every `pollSeconds`, to wait with `key`. */
  wait (key: string, build: Pick<BuildRequest, 'system' | 'requiredFeatures' | 'expectedWork' | 'chainAfter'>, until: WaitingFor, now: number, nixRun?: NixRun, pollSeconds?: number): void {
    const { system, requiredFeatures, expectedWork, chainAfter } = build
    this.byKey.set(key, {
      system, requiredFeatures, expectedWork, chainAfter, askedAt: now, until,
      ...(nixRun === undefined ? {} : { nixRun }),
      ...(pollSeconds === undefined || pollSeconds === this.pollSeconds ? {} : { pollSeconds })
    })
  }

  /**
   * The hook told Nix to keep waiting with `key` itself, as the agent had answered in advance
   * (`forecastDeclines`): Nix asks again at the next end, as after any decline.
   */
  askedAgain (key: string, now: number): void {
    const w = this.byKey.get(key)
    if (w !== undefined) this.byKey.set(key, { ...w, askedAt: now, until: 'build-end' })
  }

  /**
   * Waiters whose chain was not known when they were told to wait: the store had not answered
   * yet. Nix asking again would have brought it; answered ahead, the agent looks it up itself.
   */
  withoutChain (keys: readonly string[]): Array<{ key: string, build: QueuedBuild }> {
    return keys.flatMap((key) => {
      const w = this.byKey.get(key)
      return w === undefined || w.chainAfter !== undefined ? [] : [{ key, build: queued(w) }]
    })
  }

  /** The chain after a waiter, found since it was told to wait. */
  setChain (key: string, chainAfter: number): void {
    const w = this.byKey.get(key)
    if (w !== undefined) this.byKey.set(key, { ...w, chainAfter })
  }

  /** The builds of run `nixRun` waiting for a build to end, with what planBuild needs of each. */
  buildEndWaiters (nixRun?: NixRun): Array<{ key: string, build: QueuedBuild }> {
    return [...this.byKey].filter(([, w]) => w.until === 'build-end' && sameRun(w.nixRun, nixRun)).map(([key, w]) => ({ key, build: queued(w) }))
  }

  /** A copy to try answers on without changing what the agent knows. */
  clone (): WaitingBuilds {
    const copy = new WaitingBuilds(this.pollSeconds, this.forgetAfter, this.roundSeconds)
    for (const [key, w] of this.byKey) copy.byKey.set(key, w)
    copy.ends = [...this.ends]
    copy.prunedAt = this.prunedAt
    return copy
  }

  /** A build of run `nixRun` ended (the hook released it, or its outputs appeared). */
  buildEnded (now: number, nixRun?: NixRun): void {
    this.ends.push({ at: Math.max(now, this.ends.at(-1)?.at ?? -Infinity), ...(nixRun === undefined ? {} : { nixRun }) })
  }

  /**
   * The waiting builds, each with when Nix should ask about it again. Nix asks every build-end
   * waiter again, one after the other, as soon as one of its builds ends: one told to wait before
   * the last end its run saw is about to be asked. The others wait for the next end, the soonest
   * that the candidates' running builds should end (a poll wakes Nix at the latest).
   */
  queue (now: number, candidates: Array<Pick<Candidate, 'endsIn'>>): QueuedBuild[] {
    const nextEnd = Math.max(0, Math.min(...candidates.flatMap((c) => c.endsIn ?? [])))
    return [...this.byKey.values()].map((w) => {
      const poll = w.pollSeconds ?? this.pollSeconds
      return {
        ...queued(w),
        askedAgainIn: w.until === 'poll'
          ? Math.max(0, w.askedAt + poll - now)
          : w.askedAt < lastOf(this.ends, w.nixRun) ? 0 : Math.min(poll, nextEnd)
      }
    })
  }
}

/** What planBuild needs of a waiter. */
const queued = (w: Waiting): QueuedBuild =>
  ({ system: w.system, requiredFeatures: w.requiredFeatures, expectedWork: w.expectedWork, chainAfter: w.chainAfter })

/** When the last of `ends` that run `nixRun` saw was: its Nix then asked every build-end waiter again. */
function lastOf (ends: End[], nixRun: NixRun | undefined): number {
  for (let i = ends.length - 1; i >= 0; i--) if (sameRun((ends[i] as End).nixRun, nixRun)) return (ends[i] as End).at
  return -Infinity
}
