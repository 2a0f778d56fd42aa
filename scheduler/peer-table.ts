import { EventEmitter } from 'node:events'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { validateAddress } from '../wire/fields.ts'
import { decodeAdvertisement } from '../wire/txt.ts'
import type { BuilderStatus } from '../wire/status.ts'
import type { Peer, SshState } from './peer.ts'
import type { PeerSighting, PeerSource } from './peer-source.ts'

export interface PeerTableComponents {
  clock: Clock
  log: Logger
}

export interface PeerTableInit {
  /** A peer not heard from over mDNS for this long is dropped. */
  expireAfterMs?: number
  /** A status older than this no longer counts: the peer stops being eligible. */
  statusTimeoutMs?: number
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
      // A link-local IPv6 address without its interface (`%eth0`) cannot be dialled from here.
      const unscopedLinkLocal = /^fe[89ab]/.test(canonical) && !canonical.includes('%')
      if (!canonical.startsWith('127.') && canonical !== '::1' && !unscopedLinkLocal) usable.add(canonical)
    } catch { /* an address that does not validate is just not one to use */ }
  }
  return [...usable]
}

/** The address a master dials and lists (scheduler/member-links.ts): the first IPv4 one. */
function dialAddress (addresses: string[]): string | undefined {
  return addresses.find((a) => !a.includes(':'))
}

/** Everything the master knows about its peers, kept current by one or more peer sources. */
export class PeerTable extends EventEmitter<PeerTableEvents> {
  private readonly components: PeerTableComponents
  private readonly expireAfterMs: number
  readonly statusTimeoutMs: number
  private readonly peers = new Map<string, Peer>()
  private readonly sources: PeerSource[] = []
  private timer: unknown

  constructor (components: PeerTableComponents, init: PeerTableInit = {}) {
    super()
    this.components = components
    this.expireAfterMs = init.expireAfterMs ?? 7000
    this.statusTimeoutMs = init.statusTimeoutMs ?? 2000
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
    this.timer = clock.setInterval(() => { this.expire() }, Math.max(50, Math.floor(Math.min(this.expireAfterMs, this.statusTimeoutMs) / 10)))
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

  get (key: string): Peer | undefined {
    return this.peers.get(key)
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
    // What the libp2p link proved stays only while the peer still claims the same identity at
    // the same address: the link verified that address, and another host may send the same TXT.
    const sameIdentity = previous?.advertisement != null && advertisement !== null &&
      previous.advertisement.peerId === advertisement.peerId && previous.advertisement.p2pPort === advertisement.p2pPort &&
      dialAddress(previous.addresses) === dialAddress(addresses)
    const peer: Peer = {
      key: s.key,
      name,
      addresses,
      advertisement: invalidReason === null ? advertisement : null,
      invalidReason,
      trusted: sameIdentity && invalidReason === null ? previous.trusted : false,
      untrustedReason: sameIdentity && invalidReason === null ? previous.untrustedReason : 'not verified yet',
      status: sameIdentity ? previous.status : null,
      statusAt: sameIdentity ? previous.statusAt : null,
      ssh: sameIdentity ? previous.ssh : null,
      authorized: sameIdentity ? previous.authorized : false,
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

  /** Records what the libp2p handshake showed about the peer. */
  setTrust (key: string, trusted: boolean, untrustedReason: string | null): void {
    const peer = this.peers.get(key)
    if (peer === undefined || (peer.trusted === trusted && peer.untrustedReason === untrustedReason)) return
    peer.trusted = trusted
    peer.untrustedReason = trusted ? null : untrustedReason
    if (!trusted) {
      peer.status = null
      peer.statusAt = null
      peer.authorized = false
    }
    this.components.log.info({ peer: peer.name, peerId: peer.advertisement?.peerId, trusted, reason: untrustedReason }, trusted ? 'peer verified' : 'peer not trusted')
    this.emit('change')
  }

  /** A status arrived over the peer's authenticated stream. */
  setStatus (key: string, status: BuilderStatus, at: number): void {
    const peer = this.peers.get(key)
    if (peer === undefined || !peer.trusted) return
    peer.status = status
    peer.statusAt = at
    this.emit('change')
  }

  /** The builder accepted the master's SSH key, over the current link. */
  setAuthorized (key: string, authorized: boolean): void {
    const peer = this.peers.get(key)
    if (peer === undefined || !peer.trusted || peer.authorized === authorized) return
    peer.authorized = authorized
    this.emit('change')
  }

  /** Records the last SSH check of the builder. */
  setSsh (key: string, ssh: SshState | null): void {
    const peer = this.peers.get(key)
    if (peer === undefined) return
    const changed = peer.ssh?.ok !== ssh?.ok || peer.ssh?.reason !== ssh?.reason
    peer.ssh = ssh
    if (changed) this.emit('change')
  }

  forget (key: string, why: string): void {
    const peer = this.peers.get(key)
    if (peer === undefined) return
    this.peers.delete(key)
    this.components.log.info({ peer: peer.name, key, why }, 'peer down')
    this.emit('change')
  }

  expire (): void {
    const now = this.components.clock.now()
    let staled = false
    for (const peer of [...this.peers.values()]) {
      if (peer.lastSeen < now - this.expireAfterMs) {
        this.forget(peer.key, 'expired')
      } else if (peer.statusAt !== null && peer.status !== null && peer.statusAt < now - this.statusTimeoutMs) {
        // Kept for display, but a silent builder must leave the lists now, not when mDNS notices.
        this.components.log.warn({ peer: peer.name, peerId: peer.advertisement?.peerId, silentMs: now - peer.statusAt }, 'peer status stale')
        peer.status = null
        staled = true
      }
    }
    if (staled) this.emit('change')
  }
}
