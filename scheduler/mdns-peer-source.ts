import { EventEmitter } from 'node:events'
import type { Browser, Service } from 'bonjour-service'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import type { MdnsEndpoint, MdnsPacket } from '../common/mdns.ts'
import { SERVICE_TYPE } from '../wire/advertisement.ts'
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
   * A peer heard again after this much silence is reported in full once more. The peer table
   * may have expired it meanwhile (a hung or cut-off host), and bonjour's Browser, which still
   * holds the service, reports only changes: an unchanged peer would otherwise never return.
   * Default: two query intervals, i.e. at least one query went unanswered.
   */
  resightAfterMs?: number
}

const FQDN_SUFFIX = `._${SERVICE_TYPE}._tcp.local`

/** Browses `_buildmesh._tcp` with bonjour-service and reports what it sees. */
export class MdnsPeerSource extends EventEmitter<PeerSourceEvents> implements PeerSource {
  private readonly components: MdnsPeerSourceComponents
  private readonly queryIntervalMs: number
  private readonly resightAfterMs: number
  /** When each service (lowercase full name) last answered. */
  private readonly heard = new Map<string, number>()
  private browser: Browser | undefined
  private timer: unknown
  private readonly onResponse = (packet: MdnsPacket): void => { this.noteAlive(packet) }

  constructor (components: MdnsPeerSourceComponents, init: MdnsPeerSourceInit = {}) {
    super()
    this.components = components
    this.queryIntervalMs = init.queryIntervalMs ?? 2000
    this.resightAfterMs = init.resightAfterMs ?? 2 * this.queryIntervalMs
  }

  start (): void {
    if (this.browser !== undefined) return
    const { mdns, clock } = this.components
    const browser = mdns.browse(SERVICE_TYPE)
    browser.on('up', (s) => { this.report(s) })
    browser.on('txt-update', (s) => { this.report(s) })
    browser.on('srv-update', (s) => { this.report(s) })
    browser.on('down', (s) => {
      if (typeof s.fqdn !== 'string') return
      this.heard.delete(s.fqdn.toLowerCase())
      this.emit('gone', s.fqdn)
    })
    mdns.socket.on('response', this.onResponse)
    this.browser = browser
    this.timer = clock.setInterval(() => { browser.update() }, this.queryIntervalMs)
  }

  stop (): void {
    if (this.browser === undefined) return
    this.components.clock.clearInterval(this.timer)
    this.components.mdns.socket.removeListener('response', this.onResponse)
    this.browser.stop()
    this.browser = undefined
    this.heard.clear()
  }

  private report (service: Service): void {
    const raw = (service as { rawTxt?: unknown }).rawTxt
    const referer = service.referer?.address
    const addresses = [...new Set([...(referer === undefined ? [] : [referer]), ...(service.addresses ?? [])])]
    const sighting: PeerSighting = {
      key: String(service.fqdn),
      instanceName: String(service.name),
      addresses,
      rawTxt: Array.isArray(raw) ? raw.filter((b): b is Uint8Array => b instanceof Uint8Array) : [],
      at: this.components.clock.now()
    }
    this.emit('sighting', sighting)
  }

  /** Any unchanged answer still proves the peer is there; bonjour's Browser only reports changes. */
  private noteAlive (packet: MdnsPacket): void {
    const now = this.components.clock.now()
    const seen = new Set<string>()
    for (const rr of [...(packet.answers ?? []), ...(packet.additionals ?? [])]) {
      if (rr.type !== 'SRV' || rr.ttl === 0 || typeof rr.name !== 'string') continue
      const key = rr.name.toLowerCase()
      if (key.endsWith(FQDN_SUFFIX) && !seen.has(key)) {
        seen.add(key)
        const last = this.heard.get(key)
        this.heard.set(key, now)
        if (last !== undefined && now - last >= this.resightAfterMs) {
          const service = this.browser?.services.find((s) => typeof s.fqdn === 'string' && s.fqdn.toLowerCase() === key)
          if (service !== undefined) this.report(service)
        }
        this.emit('alive', rr.name, now)
      }
    }
  }
}
