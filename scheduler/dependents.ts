import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { systemClock, type Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { mapConcurrently } from '../common/map-concurrently.ts'
import { isDrvPath, readDerivation, storePathExists, type DerivationFacts } from './derivation.ts'

/** The derivations still to build that wait, directly or not, for one derivation. */
export interface PendingDependents {
  /** For the derivation asked about and each of these, the ones among these built from it. */
  users: Map<string, string[]>
  facts: Map<string, DerivationFacts>
}

export interface StoreDependentsDeps {
  log: Logger
  /** Every derivation built from any of `drvPaths`, directly or not, and those. */
  referrers?: (drvPaths: string[]) => Promise<string[]>
  read?: (drvPath: string) => Promise<DerivationFacts>
  exists?: (path: string) => Promise<boolean>
  clock?: Pick<Clock, 'now'>
}

export interface StoreDependentsInit {
  /** Past this many dependents (stdenv, glibc) it waits for everything: reading them all is not worth it. */
  maxDependents?: number
  /** .drv files never change, so what was read stays, up to this many (and as many derivations asked about); past that it is all read again. */
  maxCached?: number
  /**
   * How long what the store said is taken as still true. Nix waits for its hook's answer, and asks
   * again for every waiting derivation whenever a build ends: a query of the store each time cost
   * it about 25 ms per answer (`npm run bench:hook`). Dependents come with a new evaluation, and a
   * dependent cannot be built before the derivation asked about, so little is missed meanwhile.
   */
  freshForMs?: number
  /**
   * Queries at most under way that nobody waits for. Nix asks about every goal of a run at its
   * start, and a query is a process (15-20 ms of CPU, mostly its start, taken from the builds):
   * derivations asked about meanwhile wait, and go together in one query when one ends.
   */
  maxBackgroundQueries?: number
}

/** Derivations at most in one query nobody waits for. */
const MAX_BATCH = 256

// Each read is a round trip to libuv's thread pool: overlap a few, without holding many files open.
const CONCURRENT_READS = 16

/** `nix-store --query --referrers-closure`: only derivations refer to a .drv, so these are its dependents. */
export function nixStoreReferrers (nixStoreArgs: string[] = []): (drvPaths: string[]) => Promise<string[]> {
  return async (drvPaths) => {
    const { stdout } = await promisify(execFile)('nix-store', [...nixStoreArgs, '--query', '--referrers-closure', '--', ...drvPaths], { timeout: 10_000, maxBuffer: 64 << 20 })
    return stdout.split('\n').filter((l) => l !== '')
  }
}

interface Known<T> {
  at: number
  value: T
}

/**
 * What Nix will build after a derivation because of it, read from the store: nix-build
 * instantiates the whole graph before it builds anything, so every .drv that waits for this one
 * is there, as a referrer. So are .drv files of older evaluations; those whose outputs exist are
 * left out, and `chainAfter` leaves out the rest where the run's own derivations are known
 * (`RunDerivations`).
 *
 * One query answers for every dependent too: whatever waits for a dependent waits for the
 * derivation asked about, so it is among that query's answers.
 */
export class StoreDependents {
  private readonly deps: Required<StoreDependentsDeps>
  private readonly maxDependents: number
  private readonly maxCached: number
  private readonly freshForMs: number
  private readonly maxBackgroundQueries: number
  private backgroundQueries = 0
  private readonly facts = new Map<string, DerivationFacts>()
  /** For every derivation read and each it is built from: those built from it directly. */
  private readonly users = new Map<string, Set<string>>()
  /** Whether a derivation's dependents are all among `users` (false: too many to read), and since when. */
  private readonly whole = new Map<string, Known<boolean>>()
  private readonly built = new Map<string, Known<boolean>>()
  /** Queries under way, so that a derivation asked about again meanwhile does not start another. */
  private readonly querying = new Map<string, Promise<void>>()
  /** Asked about without waiting while the background queries were all under way: the next one's. */
  private readonly deferred = new Set<string>()

  constructor (deps: StoreDependentsDeps, init: StoreDependentsInit = {}) {
    this.deps = {
      log: deps.log,
      referrers: deps.referrers ?? nixStoreReferrers(),
      read: deps.read ?? (async (p) => await readDerivation(p)),
      exists: deps.exists ?? storePathExists,
      clock: deps.clock ?? systemClock
    }
    this.maxDependents = init.maxDependents ?? 2000
    this.maxCached = init.maxCached ?? 50_000
    this.freshForMs = init.freshForMs ?? 60_000
    this.maxBackgroundQueries = init.maxBackgroundQueries ?? 2
  }

  /**
   * Undefined when the store cannot say, or the dependents are too many to read. With
   * `waitForStore` false, also when the store must be asked first: the query then runs on its
   * own, for the next time.
   */
  async of (drvPath: string, options: { waitForStore?: boolean } = {}): Promise<PendingDependents | undefined> {
    const now = this.deps.clock.now()
    try {
      if (this.known(this.whole, drvPath, now) === undefined) {
        if (options.waitForStore === false) {
          this.queryMeanwhile(drvPath, now)
          return undefined
        }
        this.deferred.delete(drvPath)
        await (this.querying.get(drvPath) ?? this.startQuery([drvPath], now))
      }
      if (this.whole.get(drvPath)?.value !== true) return undefined
      return await this.pending(drvPath, now)
    } catch (err) {
      this.cannotRead([drvPath], err)
      return undefined
    }
  }

  /** One line for a query, however many derivations it asked about. */
  private cannotRead (drvPaths: string[], err: unknown): void {
    const asked = drvPaths.length > 1 ? { asked: drvPaths.length } : {}
    this.deps.log.warn({ drvPath: drvPaths[0], ...asked, err: (err as Error).message }, 'cannot read the builds that wait for this one')
  }

  private queryMeanwhile (drvPath: string, now: number): void {
    if (this.querying.has(drvPath)) return
    this.deferred.add(drvPath)
    this.nextBatch(now)
  }

  private nextBatch (now: number): void {
    // One the last batch found as a dependent is known already.
    for (const p of this.deferred) if (this.known(this.whole, p, now) !== undefined) this.deferred.delete(p)
    if (this.deferred.size === 0 || this.backgroundQueries >= this.maxBackgroundQueries) return
    const batch = [...this.deferred].slice(0, MAX_BATCH)
    for (const p of batch) this.deferred.delete(p)
    this.backgroundQueries++
    void this.startQuery(batch, now)
      .catch((err: unknown) => { this.cannotRead(batch, err) })
      .finally(() => {
        this.backgroundQueries--
        this.nextBatch(this.deps.clock.now())
      })
  }

  private startQuery (drvPaths: string[], now: number): Promise<void> {
    const query = this.query(drvPaths, now).finally(() => { for (const p of drvPaths) this.querying.delete(p) })
    for (const p of drvPaths) this.querying.set(p, query)
    return query
  }

  /**
   * One query for all of `drvPaths`: each one's dependents are among the answers, and the .drv
   * files read say which waits for which. Answers too many to read are asked again one by one.
   */
  private async query (drvPaths: string[], now: number): Promise<void> {
    // Every derivation asked about leaves an entry, even one with too many dependents to read.
    if (this.whole.size + drvPaths.length > this.maxCached) this.forget()
    const asked = new Set(drvPaths)
    const all = (await this.deps.referrers(drvPaths)).filter((p) => !asked.has(p) && isDrvPath(p))
    if (all.length > this.maxDependents) {
      if (drvPaths.length > 1) {
        for (const p of drvPaths) await this.query([p], now)
        return
      }
      this.deps.log.debug({ drvPath: drvPaths[0], dependents: all.length }, 'too many dependents to weigh this build\'s chain')
      this.whole.set(drvPaths[0] as string, { at: now, value: false })
      return
    }
    if (this.facts.size + all.length > this.maxCached) this.forget()
    await mapConcurrently(all.filter((p) => !this.facts.has(p)), CONCURRENT_READS, async (p) => { this.learn(p, await this.deps.read(p)) })
    // A derivation asked about that another waits for: the facts of the one asked about say so.
    await mapConcurrently(drvPaths.filter((p) => !this.facts.has(p)), CONCURRENT_READS, async (p) => { this.learn(p, await this.deps.read(p)) })
    for (const p of [...drvPaths, ...all]) this.whole.set(p, { at: now, value: true })
  }

  private learn (path: string, f: DerivationFacts): void {
    this.facts.set(path, f)
    for (const input of f.inputDrvs) {
      const users = this.users.get(input) ?? new Set()
      users.add(path)
      this.users.set(input, users)
    }
  }

  private forget (): void {
    this.facts.clear()
    this.users.clear()
    this.whole.clear()
    this.built.clear()
  }

  private async pending (drvPath: string, now: number): Promise<PendingDependents> {
    const reached = [drvPath]
    const seen = new Set(reached)
    for (let i = 0; i < reached.length; i++) {
      for (const u of this.users.get(reached[i] as string) ?? []) {
        if (!seen.has(u)) {
          seen.add(u)
          reached.push(u)
        }
      }
    }
    const dependents = reached.slice(1)
    const done = await mapConcurrently(dependents, CONCURRENT_READS, async (p) => await this.isBuilt(p, now))
    const facts = new Map<string, DerivationFacts>()
    dependents.forEach((p, i) => { if (done[i] === false) facts.set(p, this.facts.get(p) as DerivationFacts) })
    const users = new Map<string, string[]>([[drvPath, []]])
    for (const path of facts.keys()) users.set(path, [])
    for (const [path, f] of facts) {
      for (const input of f.inputDrvs) users.get(input)?.push(path)
    }
    return { users, facts }
  }

  private async isBuilt (path: string, now: number): Promise<boolean> {
    const known = this.known(this.built, path, now)
    if (known !== undefined) return known
    const outputs = this.facts.get(path)?.outputs ?? []
    const built = outputs.length > 0 && (await Promise.all(outputs.map(async (o) => await this.deps.exists(o)))).every((e) => e)
    this.built.set(path, { at: now, value: built })
    return built
  }

  private known<T> (map: Map<string, Known<T>>, key: string, now: number): T | undefined {
    const entry = map.get(key)
    return entry !== undefined && now - entry.at < this.freshForMs ? entry.value : undefined
  }
}

/**
 * Seconds the longest chain of `users` after `start` takes, each derivation taking `seconds` of
 * it: how long after `start` ends the last build that waits for it can end at the soonest.
 * With `inRun`, only the run's own derivations wait: an older evaluation's .drv is no build to come.
 */
export function chainAfter (start: string, users: Map<string, string[]>, seconds: (drv: string) => number, inRun?: ReadonlySet<string>): number {
  const tail = new Map<string, number>()
  const expanded = new Set<string>()
  // Depth first without recursion: a chain can be thousands of derivations long.
  const stack: Array<{ drv: string, expanded: boolean }> = [{ drv: start, expanded: false }]
  while (stack.length > 0) {
    const top = stack.pop() as { drv: string, expanded: boolean }
    if (tail.has(top.drv)) continue
    const next = (users.get(top.drv) ?? []).filter((u) => inRun === undefined || inRun.has(u))
    if (!top.expanded) {
      // A store has no cycles; a damaged one must not loop for ever.
      if (expanded.has(top.drv)) continue
      expanded.add(top.drv)
      stack.push({ drv: top.drv, expanded: true })
      for (const u of next) if (!tail.has(u)) stack.push({ drv: u, expanded: false })
      continue
    }
    tail.set(top.drv, Math.max(0, ...next.map((u) => seconds(u) + (tail.get(u) ?? 0))))
  }
  return tail.get(start) ?? 0
}
