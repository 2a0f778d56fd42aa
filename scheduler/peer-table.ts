import { EventEmitter } from 'node:events'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { validateAddress } from '../wire/fields.ts'
import { decodeAdvertisement } from '../wire/txt.ts'
import type { Peer } from './peer.ts'
import type { PeerSighting, PeerSource } from './peer-source.ts'

export interface PeerTableComponents {
  clock: Clock
  log: Logger
}

export interface PeerTableInit {
  /** A peer not heard from for this long is dropped. */
  expireAfterMs?: number
  /** Until membership is verified over libp2p, listing a peer needs the operator's explicit say-so. */
  trustAll?: boolean
}

interface PeerTableEvents {
  change: []
}

/** Printable, bounded: instance names come from the network and end up in logs and tables. */
export function displayName (raw: string): string {
  const printable = raw.replace(/[^\x20-\x7e]/g, '?')
  return printable.length > 63 ? `${printable.slice(0, 62)}…` : printable
}

/** Validated and canonical; loopback is dropped because it would name the master itself. */
function usableAddresses (raw: string[]): string[] {
  const usable = new Set<string>()
  for (const address of raw) {
    try {
      const canonical = validateAddress(address)
      if (!canonical.startsWith('127.') && canonical !== '::1') usable.add(canonical)
    } catch { /* an address that does not validate is just not one to use */ }
  }
  return [...usable]
}

/** Everything the master knows about its peers, kept current by one or more peer sources. */
export class PeerTable extends EventEmitter<PeerTableEvents> {
  private readonly components: PeerTableComponents
  private readonly expireAfterMs: number
  private readonly trustAll: boolean
  private readonly peers = new Map<string, Peer>()
  private readonly sources: PeerSource[] = []
  private timer: unknown

  constructor (components: PeerTableComponents, init: PeerTableInit = {}) {
    super()
    this.components = components
    this.expireAfterMs = init.expireAfterMs ?? 7000
    this.trustAll = init.trustAll ?? false
  }

  /** Follow a source's sightings; call before `start()`. */
  follow (source: PeerSource): void {
    source.on('sighting', (s) => { this.observe(s) })
    source.on('alive', (key, at) => { this.alive(key, at) })
    source.on('gone', (key) => { this.forget(key, 'goodbye') })
    this.sources.push(source)
  }

  async start (): Promise<void> {
    if (this.timer !== undefined) return
    const { clock } = this.components
    this.timer = clock.setInterval(() => { this.expire() }, Math.max(100, Math.floor(this.expireAfterMs / 10)))
    try {
      for (const source of this.sources) await source.start()
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop (): Promise<void> {
    if (this.timer === undefined) return
    this.components.clock.clearInterval(this.timer)
    this.timer = undefined
    for (const source of this.sources) await source.stop()
  }

  list (): Peer[] {
    return [...this.peers.values()].sort((a, b) => a.name.localeCompare(b.name) || a.key.localeCompare(b.key))
  }

  observe (s: PeerSighting): void {
    const name = displayName(s.instanceName)
    const addresses = usableAddresses(s.addresses)
    let advertisement = null
    let invalidReason: string | null = null
    try {
      advertisement = decodeAdvertisement(s.instanceName, s.rawTxt)
      if (addresses.length === 0) invalidReason = 'no usable address'
    } catch (err) {
      invalidReason = (err as Error).message
    }
    const previous = this.peers.get(s.key)
    const peer: Peer = {
      key: s.key,
      name,
      addresses,
      advertisement: invalidReason === null ? advertisement : null,
      invalidReason,
      trusted: this.trustAll && invalidReason === null,
      untrustedReason: this.trustAll ? null : 'membership is not verified (run with --insecure-trust-all to list unverified peers)',
      lastSeen: s.at
    }
    this.peers.set(s.key, peer)
    const log = this.components.log
    if (invalidReason !== null) {
      if (previous?.invalidReason !== invalidReason) log.warn({ peer: name, key: s.key, reason: invalidReason }, 'invalid advertisement: peer not listed')
    } else if (previous === undefined) {
      log.info({ peer: name, key: s.key, addresses }, 'peer up')
    } else {
      log.debug({ peer: name, key: s.key }, 'peer updated')
    }
    this.emit('change')
  }

  alive (key: string, at: number): void {
    const peer = this.peers.get(key)
    if (peer !== undefined && at > peer.lastSeen) peer.lastSeen = at
  }

  forget (key: string, why: string): void {
    const peer = this.peers.get(key)
    if (peer === undefined) return
    this.peers.delete(key)
    this.components.log.info({ peer: peer.name, key, why }, 'peer down')
    this.emit('change')
  }

  expire (): void {
    const cutoff = this.components.clock.now() - this.expireAfterMs
    for (const peer of [...this.peers.values()]) {
      if (peer.lastSeen < cutoff) this.forget(peer.key, 'expired')
    }
  }
}
