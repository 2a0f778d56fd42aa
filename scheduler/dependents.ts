import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { Logger } from '../common/logger.ts'
import { isDrvPath, readDerivation, storePathExists, type DerivationFacts } from './derivation.ts'

/** The derivations still to build that wait, directly or not, for one derivation. */
export interface PendingDependents {
  /** For the derivation asked about and each of these, the ones among these built from it. */
  users: Map<string, string[]>
  facts: Map<string, DerivationFacts>
}

export interface StoreDependentsDeps {
  log: Logger
  /** Every derivation built from `drvPath`, directly or not, and itself. */
  referrers?: (drvPath: string) => Promise<string[]>
  read?: (drvPath: string) => Promise<DerivationFacts>
  exists?: (path: string) => Promise<boolean>
}

export interface StoreDependentsInit {
  /** Past this many dependents (stdenv, glibc) it waits for everything: reading them all per request is not worth it. */
  maxDependents?: number
  /** .drv files never change, so what was read stays, up to this many. */
  maxCached?: number
}

/** `nix-store --query --referrers-closure`: only derivations refer to a .drv, so these are its dependents. */
export function nixStoreReferrers (nixStoreArgs: string[] = []): (drvPath: string) => Promise<string[]> {
  return async (drvPath) => {
    const { stdout } = await promisify(execFile)('nix-store', [...nixStoreArgs, '--query', '--referrers-closure', drvPath], { timeout: 10_000, maxBuffer: 64 << 20 })
    return stdout.split('\n').filter((l) => l !== '')
  }
}

/**
 * What Nix will build after a derivation because of it, read from the store: nix-build
 * instantiates the whole graph before it builds anything, so every .drv that waits for this one
 * is there, as a referrer. So are .drv files of older evaluations; those whose outputs exist are
 * left out, and the rest can only make a chain look longer than it is.
 */
export class StoreDependents {
  private readonly deps: Required<StoreDependentsDeps>
  private readonly maxDependents: number
  private readonly maxCached: number
  private readonly cache = new Map<string, DerivationFacts>()

  constructor (deps: StoreDependentsDeps, init: StoreDependentsInit = {}) {
    this.deps = { referrers: nixStoreReferrers(), read: async (p) => await readDerivation(p), exists: storePathExists, ...deps }
    this.maxDependents = init.maxDependents ?? 2000
    this.maxCached = init.maxCached ?? 50_000
  }

  /** Undefined when the store cannot say, or the dependents are too many to read. */
  async of (drvPath: string): Promise<PendingDependents | undefined> {
    const { log, referrers } = this.deps
    try {
      const all = (await referrers(drvPath)).filter((p) => p !== drvPath && isDrvPath(p))
      if (all.length > this.maxDependents) {
        log.debug({ drvPath, dependents: all.length }, 'too many dependents to weigh this build\'s chain')
        return undefined
      }
      const facts = new Map<string, DerivationFacts>()
      for (const path of all) {
        const f = await this.facts(path)
        if (!(await this.built(f))) facts.set(path, f)
      }
      const users = new Map<string, string[]>([[drvPath, []]])
      for (const path of facts.keys()) users.set(path, [])
      for (const [path, f] of facts) {
        for (const input of f.inputDrvs) users.get(input)?.push(path)
      }
      return { users, facts }
    } catch (err) {
      log.warn({ drvPath, err: (err as Error).message }, 'cannot read the builds that wait for this one')
      return undefined
    }
  }

  private async facts (path: string): Promise<DerivationFacts> {
    const known = this.cache.get(path)
    if (known !== undefined) return known
    const f = await this.deps.read(path)
    if (this.cache.size >= this.maxCached) this.cache.delete(this.cache.keys().next().value as string)
    this.cache.set(path, f)
    return f
  }

  private async built (f: DerivationFacts): Promise<boolean> {
    if (f.outputs.length === 0) return false
    for (const o of f.outputs) if (!(await this.deps.exists(o))) return false
    return true
  }
}

/**
 * Seconds the longest chain of `users` after `start` takes, each derivation taking `seconds` of
 * it: how long after `start` ends the last build that waits for it can end at the soonest.
 */
export function chainAfter (start: string, users: Map<string, string[]>, seconds: (drv: string) => number): number {
  const tail = new Map<string, number>()
  const expanded = new Set<string>()
  // Depth first without recursion: a chain can be thousands of derivations long.
  const stack: Array<{ drv: string, expanded: boolean }> = [{ drv: start, expanded: false }]
  while (stack.length > 0) {
    const top = stack.pop() as { drv: string, expanded: boolean }
    if (tail.has(top.drv)) continue
    const next = users.get(top.drv) ?? []
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
