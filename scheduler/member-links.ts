import type { Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
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
    const streams = [...this.links.values()].map((l) => l.stream).filter((s) => s !== undefined)
    this.links.clear()
    await Promise.all(streams.map(async (s) => { await s.close().catch(() => { s.abort(new Error('master stopping')) }) }))
  }

  private reconcile (): void {
    if (!this.running) return
    const { table, clock } = this.components
    const now = clock.now()
    const present = new Set<string>()
    for (const peer of table.list()) {
      present.add(peer.key)
      const target = targetOf(peer)
      let link = this.links.get(peer.key)
      if (link !== undefined && link.target !== target) {
        link.stream?.abort(new Error('peer changed identity or address'))
        this.links.delete(peer.key)
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
      link.stream?.abort(new Error('peer left'))
      this.links.delete(key)
    }
  }

  private async connect (key: string, link: Link): Promise<void> {
    const { node, table, clock, log } = this.components
    link.dialing = true
    const addr = multiaddr(link.target)
    const peerId = peerIdFromString(addr.getComponents().find((c) => c.name === 'p2p')?.value ?? '')
    try {
      const signal = AbortSignal.timeout(this.init.dialTimeoutMs ?? 3000)
      const stream = await node.libp2p.dialProtocol(addr, STATUS_PROTOCOL, { signal })
      if (this.links.get(key) !== link) { stream.abort(new Error('link replaced')); return }
      link.stream = stream
      link.failures = 0
      table.setTrust(key, true, null)
      void this.authorize(key, link)
      await this.readStatuses(key, stream)
      this.lost(key, link, 'unreachable: the status stream closed')
    } catch (err) {
      const reason = classifyDialError(err)
      log.debug({ key, peerId: peerId.toString(), err: (err as Error).message }, 'mesh link failed')
      this.lost(key, link, reason)
    } finally {
      link.dialing = false
      link.retryAt = Math.max(link.retryAt, clock.now())
    }
  }

  private lost (key: string, link: Link, reason: string): void {
    const { table, clock } = this.components
    if (this.links.get(key) !== link) return
    link.stream = undefined
    link.failures++
    const backoff = Math.min(this.init.maxBackoffMs ?? 10_000, (this.init.minBackoffMs ?? 500) * 2 ** (link.failures - 1))
    link.retryAt = clock.now() + backoff
    table.setTrust(key, false, reason)
  }

  /** Reads length-prefixed statuses until the stream ends; a malformed one ends it. */
  private async readStatuses (key: string, stream: Stream): Promise<void> {
    const { table, clock, log } = this.components
    try {
      await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_STATUS_BYTES }), async (source) => {
        for await (const message of source) table.setStatus(key, decodeStatus(message.subarray()), clock.now())
      })
    } catch (err) {
      log.warn({ key, peer: table.get(key)?.name, err: (err as Error).message }, 'bad status from peer: closing its stream')
      stream.abort(err as Error)
    }
  }

  private async authorize (key: string, link: Link): Promise<void> {
    const { node, table, log } = this.components
    const peer = table.get(key)
    try {
      const stream = await node.libp2p.dialProtocol(multiaddr(link.target), AUTHORIZE_PROTOCOL, { signal: AbortSignal.timeout(5000) })
      stream.send(lp.encode.single(encodeAuthorizeRequest({ v: 1, master: this.init.masterName, publicKey: this.init.sshPublicKey })))
      const response = await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_AUTHORIZE_BYTES }), async (source) => {
        for await (const message of source) return decodeAuthorizeResponse(message.subarray())
        throw new Error('no answer')
      })
      await stream.close()
      if (response.ok) log.info({ peer: peer?.name, peerId: peer?.advertisement?.peerId }, 'builder authorized our SSH key')
      else log.warn({ peer: peer?.name, error: response.error }, 'builder refused our SSH key')
    } catch (err) {
      log.warn({ peer: peer?.name, err: (err as Error).message }, 'offering our SSH key failed')
    }
  }
}
