import { randomUUID } from 'node:crypto'
import type { Clock } from '../common/clock.ts'
import { nixRunAlive, type NixRun } from './nix-run.ts'

/** A build the master sent to a builder. */
export interface Reservation {
  peer: string
  /** Derivation name, for the history. */
  name: string
  at: number
  /** Work per second the builder was expected to give it. */
  rate: number
  /** The work to expect its end from (`runningWork`), if any. */
  work: number | undefined
  /** Seconds the chain of builds waiting for it takes once it ends (BuildRequest.chainAfter). */
  chainAfter?: number
  /** Built as `big-parallel`: the history keeps those apart. */
  bigParallel?: boolean
  /** The run of Nix that sent it: its end is news for that run's waiting builds. */
  nixRun?: NixRun
  /** The pid of the hook that took it: Nix counts the build as running while that process lives. */
  hook?: number
}

/**
 * Builds the master has sent to builders and not yet heard the end of. A builder's own count
 * of running builds lags by a heartbeat, so for a short while after sending, the reservation is
 * what keeps two quick requests from taking the same slot; until the hook releases it, it also
 * says when the build should end.
 */
export class Reservations {
  private readonly clock: Clock
  private readonly bridgeMs: number
  private readonly maxRunMs: number
  private readonly runAlive: (run: NixRun) => boolean
  private readonly byId = new Map<string, Reservation>()
  /** When builds that ran on each builder ended, for a few seconds: its last status may still count them. */
  private readonly ended: Array<{ peer: string, at: number }> = []
  /** When reservations were last weighed against `maxRunMs` and their runs: once a second will do. */
  private prunedAt = -Infinity

  /**
   * Past `bridgeMs` the builder's own count is the truth. A hook killed before it could release
   * holds nothing once its run of Nix has ended (`runAlive`, `nixRunAlive`: whether a process, a
   * run's or a hook's, is there), which killed it and the build with it; one of a hook that names
   * no run, once `maxRunMs` is past.
   */
  constructor (clock: Clock, init: { bridgeMs?: number, maxRunMs?: number, runAlive?: (run: NixRun) => boolean } = {}) {
    this.clock = clock
    this.bridgeMs = init.bridgeMs ?? 15_000
    this.maxRunMs = init.maxRunMs ?? 6 * 3600_000
    this.runAlive = init.runAlive ?? nixRunAlive
  }

  reserve (r: Omit<Reservation, 'at'>): string {
    const id = randomUUID()
    this.byId.set(id, { ...r, at: this.clock.now() })
    return id
  }

  /** `ran`: the build got to the builder (built or failed there), so the builder counted it. */
  release (id: string, ran: boolean): Reservation | undefined {
    const r = this.byId.get(id)
    this.byId.delete(id)
    const now = this.clock.now()
    if (r !== undefined && ran) this.ended.push({ peer: r.peer, at: now })
    while (this.ended.length > 0 && (this.ended[0] as { at: number }).at < now - ENDED_KEPT_MS) this.ended.shift()
    return r
  }

  /**
   * Builds that ended on `peer` after `since` (when its last status came): that status counted
   * them if they ran then. Nix asks its waiters again the moment a build ends, before the
   * builder's next status; taking its slot as still in use would have them sleep until a poll.
   */
  endedSince (peer: string, since: number): number {
    return this.ended.filter((e) => e.peer === peer && e.at > since).length
  }

  /** Builds just sent to `peer` that its own count may not show yet. */
  count (peer: string): number {
    return this.live().filter((r) => r.peer === peer && r.at >= this.clock.now() - this.bridgeMs).length
  }

  /**
   * Builds of run `nixRun` that Nix still counts as running: their hooks, which release them
   * before they exit, are alive. None for a run or hooks not named: a hook killed before it could
   * release leaves its reservation, but Nix nothing to wait for.
   */
  ofRun (nixRun: NixRun | undefined): number {
    if (nixRun === undefined) return 0
    return this.live().filter((r) => r.nixRun === nixRun && r.hook !== undefined && this.runAlive(r.hook)).length
  }

  /** Seconds until each build sent to `peer` with known work should end. */
  endsIn (peer: string): number[] {
    return remainingSeconds(this.live().filter((r) => r.peer === peer), this.clock.now())
  }

  /** Seconds until builds sent anywhere, and the chains waiting for them, should end (`chainsEnd`). */
  chainsEndIn (): number | undefined {
    return chainsEnd(this.live(), this.clock.now())
  }

  /** Every question of a decision asks this, several times for each builder: the runs are looked at once a second. */
  private live (): Reservation[] {
    const now = this.clock.now()
    if (now >= this.prunedAt + 1000) {
      this.prunedAt = now
      for (const [id, r] of this.byId) if (r.at < now - this.maxRunMs || (r.nixRun !== undefined && !this.runAlive(r.nixRun))) this.byId.delete(id)
    }
    return [...this.byId.values()]
  }
}

/** Longer than a status is ever late on an eligible builder. */
const ENDED_KEPT_MS = 10_000

/** A build past its expected end is taken to need a quarter of its estimate more, not nothing. */
const OVERRUN = 0.25

interface Started {
  /** Milliseconds, on the clock of `now`. */
  at: number
  rate: number
  work: number | undefined
  chainAfter?: number
}

const remaining = (b: Started, now: number): number => {
  const seconds = (b.work as number) / b.rate
  return Math.max((b.at - now) / 1000 + seconds, seconds * OVERRUN)
}

const known = (b: Started): boolean => b.work !== undefined && b.rate > 0

/** Seconds until builds of known work should end, from when they started and their rate. */
export function remainingSeconds (builds: Started[], now: number): number[] {
  return builds.filter(known).map((b) => remaining(b, now))
}

/**
 * Seconds until the last of these builds and the chain waiting for it should end; undefined
 * while none has a chain after it. A build nothing waits for says little of how long the run
 * lasts (the next batch may be ready now), so only builds with a chain count.
 */
export function chainsEnd (builds: Started[], now: number): number | undefined {
  const ends = builds.filter((b) => known(b) && (b.chainAfter ?? 0) > 0).map((b) => remaining(b, now) + (b.chainAfter as number))
  return ends.length === 0 ? undefined : Math.max(...ends)
}
