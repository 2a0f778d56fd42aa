import type { Connection, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import type { MeshNode } from '../agent/mesh-node.ts'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { AUTHORIZE_PROTOCOL, decodeAuthorizeResponse, encodeAuthorizeRequest, MAX_AUTHORIZE_BYTES } from '../wire/authorize.ts'
import { decodeStatus, MAX_STATUS_BYTES, STATUS_PROTOCOL } from '../wire/status.ts'
import { classifyDialError } from './dial-error.ts'
import type { Peer } from './peer.ts'
import type { PeerTable } from './peer-table.ts'

export interface MemberLinksComponents {
  node: MeshNode
  table: PeerTable
  clock: Clock
  log: Logger
}

export interface MemberLinksInit {
  /** The master's SSH public key, offered to every verified builder. */
  sshPublicKey: string
  /** This master's host name, for the builders' logs. */
  masterName: string
  dialTimeoutMs?: number
  /** First retry delay after a failed dial or a lost link; doubles up to `maxBackoffMs`. */
  minBackoffMs?: number
  maxBackoffMs?: number
}

interface Link {
  target: string
  /** The connection this link opened to `target`, used by no other link. */
  connection?: Connection
  stream?: Stream
  failures: number
  retryAt: number
  dialing: boolean
}

/** One identity and address a peer claims: a change of either is a new link to verify. */
function targetOf (peer: Peer): string | null {
  const ad = peer.advertisement
  const address = peer.addresses.find((a) => !a.includes(':'))
  if (ad?.peerId == null || ad.p2pPort === null || address === undefined) return null
  return `/ip4/${address}/tcp/${ad.p2pPort}/p2p/${ad.peerId}`
}

/** The IP address and TCP port of a multiaddr, to check where a connection really goes. */
function transportAddress (addr: Multiaddr): string {
  const parts = addr.getComponents()
  return `${parts.find((c) => c.name === 'ip4' || c.name === 'ip6')?.value ?? '?'}:${parts.find((c) => c.name === 'tcp')?.value ?? '?'}`
}

/** Ends what a link holds; the connection is its own, so nothing else loses it. */
function drop (link: Link, why: string): void {
  link.stream?.abort(new Error(why))
  link.stream = undefined
  void link.connection?.close().catch(() => {})
  link.connection = undefined
}

/** A dial for the advertised peer id that came back connected somewhere else. */
class AddressMismatchError extends Error {
  constructor (wanted: Multiaddr, got: Multiaddr) {
    super(`dialled ${transportAddress(wanted)} but the connection goes to ${transportAddress(got)}`)
    this.name = 'AddressMismatchError'
  }
}

/**
 * The master's half of membership: dials every advertised peer with the mesh key and the peer
 * id it claims, marks it trusted only when that handshake completes, reads its status stream,
 * and offers it the master's SSH key. Dropped links are redialled with a growing backoff.
 */
export class MemberLinks {
  private readonly components: MemberLinksComponents
  private readonly init: MemberLinksInit
  private readonly links = new Map<string, Link>()
  private timer: unknown
  private running = false
  private readonly onChange = (): void => { this.reconcile() }

  constructor (components: MemberLinksComponents, init: MemberLinksInit) {
    this.components = components
    this.init = init
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.components.table.on('change', this.onChange)
    this.timer = this.components.clock.setInterval(() => { this.reconcile() }, 250)
    this.reconcile()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.components.table.removeListener('change', this.onChange)
    this.components.clock.clearInterval(this.timer)
    const links = [...this.links.values()]
    this.links.clear()
    await Promise.all(links.map(async (l) => {
      await l.stream?.close().catch(() => { l.stream?.abort(new Error('master stopping')) })
      await l.connection?.close().catch(() => {})
    }))
  }

  private reconcile (): void {
    if (!this.running) return
    const { table, clock } = this.components
    const now = clock.now()
    const present = new Set<string>()
    const self = this.components.node.peerId
    for (const peer of table.list()) {
      // A master that is also a builder hears its own advertisement: it is this host, not a link.
      if (peer.advertisement?.peerId === self) continue
      present.add(peer.key)
      const target = targetOf(peer)
      let link = this.links.get(peer.key)
      if (link !== undefined && link.target !== target) {
        this.links.delete(peer.key)
        drop(link, 'peer changed identity or address')
        link = undefined
      }
      if (target === null) {
        if (peer.advertisement !== null) table.setTrust(peer.key, false, 'advertises no mesh identity: the host has no mesh key or runs an old agent')
        continue
      }
      if (link === undefined) {
        link = { target, failures: 0, retryAt: 0, dialing: false }
        this.links.set(peer.key, link)
      }
      if (link.stream === undefined && !link.dialing && now >= link.retryAt) void this.connect(peer.key, link)
    }
    for (const [key, link] of this.links) {
      if (present.has(key)) continue
      this.links.delete(key)
      drop(link, 'peer left')
    }
  }

  private async connect (key: string, link: Link): Promise<void> {
    const { node, table, clock, log } = this.components
    link.dialing = true
    const addr = multiaddr(link.target)
    const peerId = peerIdFromString(addr.getComponents().find((c) => c.name === 'p2p')?.value ?? '')
    const progress = { handshakeStarted: false }
    try {
      const signal = AbortSignal.timeout(this.init.dialTimeoutMs ?? 3000)
      // A new connection to this very address. Without `force` libp2p hands back any open
      // connection to the claimed peer id, wherever it goes: a host that copies a member's TXT
      // would then be "verified" over the member's own link. A dial may still join one already
      // queued for the same peer id, so where the connection goes is checked as well.
      const connection = await node.libp2p.dial(addr, {
        signal,
        force: true,
        onProgress: (event) => { if (event.type.startsWith('upgrader:encrypt')) progress.handshakeStarted = true }
      })
      if (transportAddress(connection.remoteAddr) !== transportAddress(addr)) throw new AddressMismatchError(addr, connection.remoteAddr)
      link.connection = connection
      if (this.links.get(key) !== link) { drop(link, 'link replaced'); return }
      const stream = await connection.newStream(STATUS_PROTOCOL, { signal })
      link.stream = stream
      if (this.links.get(key) !== link) { drop(link, 'link replaced'); return }
      table.setTrust(key, true, null)
      void this.authorize(key, connection)
      const bad = await this.readStatuses(key, link, stream)
      this.lost(key, link, bad === null ? 'unreachable: the status stream closed' : `bad status: ${bad}`)
    } catch (err) {
      const reason = classifyDialError(err, progress)
      log.debug({ key, peerId: peerId.toString(), err: (err as Error).message, reason }, 'mesh link failed')
      this.lost(key, link, reason)
    } finally {
      link.dialing = false
      link.retryAt = Math.max(link.retryAt, clock.now())
    }
  }

  private lost (key: string, link: Link, reason: string): void {
    const { table, clock } = this.components
    if (this.links.get(key) !== link) return
    drop(link, reason)
    link.failures++
    const backoff = Math.min(this.init.maxBackoffMs ?? 10_000, (this.init.minBackoffMs ?? 500) * 2 ** (link.failures - 1))
    link.retryAt = clock.now() + backoff
    table.setTrust(key, false, reason)
  }

  /**
   * Reads length-prefixed statuses until the stream ends. A malformed one ends it: resolves
   * why, or null when the stream just closed (or this master dropped the link itself).
   */
  private async readStatuses (key: string, link: Link, stream: Stream): Promise<string | null> {
    const { table, clock, log } = this.components
    try {
      await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_STATUS_BYTES }), async (source) => {
        for await (const message of source) {
          table.setStatus(key, decodeStatus(message.subarray()), clock.now())
          // Only a good status resets the backoff: a peer that opens the stream and then sends
          // garbage is redialled ever more slowly, not twice a second with a warning each time.
          link.failures = 0
        }
      })
      return null
    } catch (err) {
      stream.abort(err as Error)
      if (this.links.get(key) !== link) return null
      log.warn({ key, peer: table.get(key)?.name, err: (err as Error).message }, 'bad status from peer: closing its stream')
      return (err as Error).message
    }
  }

  private async authorize (key: string, connection: Connection): Promise<void> {
    const { table, log } = this.components
    const peer = table.get(key)
    try {
      // On the verified connection itself: a new dial could land on another one to the same peer id.
      const stream = await connection.newStream(AUTHORIZE_PROTOCOL, { signal: AbortSignal.timeout(5000) })
      stream.send(lp.encode.single(encodeAuthorizeRequest({ v: 1, master: this.init.masterName, publicKey: this.init.sshPublicKey })))
      const response = await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_AUTHORIZE_BYTES }), async (source) => {
        for await (const message of source) return decodeAuthorizeResponse(message.subarray())
        throw new Error('no answer')
      })
      await stream.close()
      if (response.ok) {
        log.info({ peer: peer?.name, peerId: peer?.advertisement?.peerId }, 'builder authorized our SSH key')
        table.setAuthorized(key, true)
      } else {
        log.warn({ peer: peer?.name, error: response.error }, 'builder refused our SSH key')
      }
    } catch (err) {
      log.warn({ peer: peer?.name, err: (err as Error).message }, 'offering our SSH key failed')
    }
  }
}
