import { EventEmitter } from 'node:events'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import type { MdnsEndpoint, MdnsPacket } from '../common/mdns.ts'
import { SERVICE_TYPE } from '../wire/advertisement.ts'
import { instancesIn } from './mdns-answers.ts'
import type { PeerSighting, PeerSource, PeerSourceEvents } from './peer-source.ts'

export interface MdnsPeerSourceComponents {
  mdns: MdnsEndpoint
  clock: Clock
  log: Logger
}

export interface MdnsPeerSourceInit {
  /**
   * How often to ask the LAN who is there. mDNS has no heartbeat and a killed agent sends no
   * goodbye, so a peer that stops answering these queries is how the table learns it is gone.
   */
  queryIntervalMs?: number
  /**
   * A peer heard again after this much silence is reported in full once more: the peer table
   * may have expired it meanwhile (a hung or cut-off host). Default: two query intervals.
   */
  resightAfterMs?: number
  /** Bound on the instances remembered, whatever a flood of names on the LAN says. */
  maxInstances?: number
}

const SERVICE = `_${SERVICE_TYPE}._tcp.local`

interface Known { rawTxt: Uint8Array[], addresses: string[], heard: number }

function sameTxt (a: Uint8Array[], b: Uint8Array[]): boolean {
  return a.length === b.length && a.every((s, i) => Buffer.from(s).equals(Buffer.from(b[i] ?? [])))
}

/**
 * Browses `_buildmesh._tcp` on the agent's mDNS socket and reports each instance by its name
 * *and the address that sent it*: anyone may advertise under a member's name, and keying by name
 * alone would let such a host replace the member's entry (and its goodbye remove the member).
 */
export class MdnsPeerSource extends EventEmitter<PeerSourceEvents> implements PeerSource {
  private readonly components: MdnsPeerSourceComponents
  private readonly queryIntervalMs: number
  private readonly resightAfterMs: number
  private readonly maxInstances: number
  private readonly known = new Map<string, Known>()
  private readonly asked = new Map<string, number>()
  private timer: unknown
  private readonly onResponse = (packet: MdnsPacket, rinfo?: { address?: unknown }): void => {
    if (typeof rinfo?.address === 'string') this.handle(packet, rinfo.address)
  }

  constructor (components: MdnsPeerSourceComponents, init: MdnsPeerSourceInit = {}) {
    super()
    this.components = components
    this.queryIntervalMs = init.queryIntervalMs ?? 2000
    this.resightAfterMs = init.resightAfterMs ?? 2 * this.queryIntervalMs
    this.maxInstances = init.maxInstances ?? 1024
  }

  start (): void {
    if (this.timer !== undefined) return
    const { mdns, clock } = this.components
    mdns.socket.on('response', this.onResponse)
    this.timer = clock.setInterval(() => { this.query() }, this.queryIntervalMs)
    this.query()
  }

  stop (): void {
    if (this.timer === undefined) return
    this.components.clock.clearInterval(this.timer)
    this.timer = undefined
    this.components.mdns.socket.removeListener('response', this.onResponse)
    this.known.clear()
    this.asked.clear()
  }

  private query (): void {
    const now = this.components.clock.now()
    for (const [key, k] of this.known) if (now - k.heard > 10 * this.resightAfterMs) this.known.delete(key)
    for (const [name, at] of this.asked) if (now - at > this.resightAfterMs) this.asked.delete(name)
    this.components.mdns.socket.query(SERVICE, 'PTR')
  }

  private handle (packet: MdnsPacket, sender: string): void {
    const { clock, mdns } = this.components
    const now = clock.now()
    for (const answer of instancesIn(packet, SERVICE)) {
      const key = `${answer.fqdn}@${sender}`
      if (answer.goodbye) {
        if (this.known.delete(key)) this.emit('gone', key)
        continue
      }
      const previous = this.known.get(key)
      const addresses = [...new Set([sender, ...answer.addresses])]
      if (answer.rawTxt === null) {
        if (previous === undefined) {
          // An answer without its TXT (some responders split them): ask for the rest, once in a while.
          if (!this.asked.has(answer.fqdn)) {
            this.asked.set(answer.fqdn, now)
            mdns.socket.query(answer.fqdn, 'ANY')
          }
          continue
        }
        previous.heard = now
        this.emit('alive', key, now)
        continue
      }
      const changed = previous === undefined || !sameTxt(previous.rawTxt, answer.rawTxt) ||
        previous.addresses.join() !== addresses.join() || now - previous.heard >= this.resightAfterMs
      if (previous === undefined && this.known.size >= this.maxInstances) {
        this.components.log.warn({ key, instances: this.known.size }, 'too many mDNS instances: ignoring a new one')
        continue
      }
      this.known.set(key, { rawTxt: answer.rawTxt, addresses, heard: now })
      if (!changed) {
        this.emit('alive', key, now)
        continue
      }
      const sighting: PeerSighting = { key, instanceName: answer.instanceName, addresses, rawTxt: answer.rawTxt, at: now }
      this.emit('sighting', sighting)
    }
  }
}
