import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { Clock } from '../common/clock.ts'

/** Every address a name resolves to, or none. */
export type LookupAddresses = (name: string) => Promise<string[]>

/** getaddrinfo, as ssh resolves the host of a machine line: /etc/hosts, mDNS or DNS, as nsswitch.conf says. */
export const systemLookup: LookupAddresses = async (name) => (await lookup(name, { all: true })).map((a) => a.address)

export interface HostNamesComponents {
  clock: Clock
  lookup: LookupAddresses
}

export interface HostNamesOptions {
  /** How long a name's addresses (or that it has none) hold before they are looked up again. */
  ttlMs: number
  /**
   * How long an answer waits for a name seen for the first time. Nix waits for the answer, so a
   * name DNS takes seconds to fail on is answered without its addresses, which serve the next ask.
   */
  firstWaitMs: number
  /** Names come from the hook: a bound on how many are kept. */
  maxNames: number
}

export const defaultHostNamesOptions: HostNamesOptions = { ttlMs: 60_000, firstWaitMs: 200, maxNames: 256 }

interface Entry {
  addresses: string[]
  /** When the last lookup ended, or null before the first did. */
  at: number | null
  pending: Promise<void> | null
}

/**
 * The addresses the host names of Nix's `builders` setting stand for, so that a machine line
 * naming a member by a name (`ssh-ng://ruby`) is known as that member, which the mesh lists by
 * address. Looked up once a minute at most per name, in the background once known.
 */
export class HostNames {
  private readonly components: HostNamesComponents
  private readonly options: HostNamesOptions
  private readonly entries = new Map<string, Entry>()

  constructor (components: HostNamesComponents, options: Partial<HostNamesOptions> = {}) {
    this.components = components
    this.options = { ...defaultHostNamesOptions, ...options }
  }

  /** What each name that is not itself an address resolves to, as far as known within `firstWaitMs`. */
  async addresses (names: string[]): Promise<Map<string, string[]>> {
    const wanted = [...new Set(names)].filter((n) => isIP(n) === 0)
    const firstLookups = wanted.flatMap((name) => {
      const entry = this.refresh(name)
      return entry.at === null && entry.pending !== null ? [entry.pending] : []
    })
    if (firstLookups.length > 0) await this.within(Promise.all(firstLookups), this.options.firstWaitMs)
    return new Map(wanted.map((name) => [name, this.entries.get(name)?.addresses ?? []]))
  }

  /** The name's entry, with a lookup started when it is stale and none runs. */
  private refresh (name: string): Entry {
    let entry = this.entries.get(name)
    if (entry === undefined) {
      if (this.entries.size >= this.options.maxNames) this.entries.delete(this.entries.keys().next().value as string)
      entry = { addresses: [], at: null, pending: null }
      this.entries.set(name, entry)
    }
    const stale = entry.at === null || this.components.clock.now() - entry.at >= this.options.ttlMs
    if (stale && entry.pending === null) {
      const current = entry
      current.pending = this.components.lookup(name)
        .catch(() => [])
        .then((addresses) => {
          current.addresses = addresses
          current.at = this.components.clock.now()
          current.pending = null
        })
    }
    return entry
  }

  private async within (work: Promise<unknown>, ms: number): Promise<void> {
    let timer: unknown
    const timeout = new Promise<void>((resolve) => { timer = this.components.clock.setTimeout(resolve, ms) })
    await Promise.race([work, timeout])
    this.components.clock.clearTimeout(timer)
  }
}
