import { Service } from 'bonjour-service'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { localAddresses, type MdnsEndpoint, type ServiceRecord } from '../common/mdns.ts'
import { SERVICE_TYPE, type Advertisement } from '../wire/advertisement.ts'
import { encodeAdvertisement } from '../wire/txt.ts'
import { isMaterialChange, type ChangeThresholds, type LiveStatus } from './live-status.ts'

export interface AdvertiserComponents {
  mdns: MdnsEndpoint
  clock: Clock
  log: Logger
  /** Samples load and free disk; must be cheap, it runs every `sampleIntervalMs`. */
  sampleLiveStatus: () => Promise<LiveStatus>
}

export interface AdvertiserInit {
  advertisement: Advertisement
  /** The SRV port: the service a peer contacts this host on. */
  port: number
  sampleIntervalMs?: number
  /** RFC 6762 allows a record to be multicast at most once per second. */
  minAnnounceIntervalMs?: number
  thresholds?: ChangeThresholds
}

/**
 * Publishes this host as a `_buildmesh._tcp` service and re-announces its TXT when the live
 * status changes materially. Announces twice a second apart on start (RFC 6762 §8.3),
 * sends goodbyes (TTL 0) on stop.
 */
export class Advertiser {
  private readonly components: AdvertiserComponents
  private readonly init: AdvertiserInit
  private advertisement: Advertisement
  private records: ServiceRecord[] = []
  private lastAnnounceAt = -Infinity
  private timers: unknown[] = []
  private sampling = false
  private running = false

  constructor (components: AdvertiserComponents, init: AdvertiserInit) {
    this.components = components
    this.init = init
    this.advertisement = init.advertisement
  }

  get current (): Advertisement {
    return this.advertisement
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    const { clock, log } = this.components
    await this.publish()
    log.info({ peer: this.advertisement.name, systems: this.advertisement.systems, slots: this.advertisement.slots }, 'advertising')
    this.timers.push(clock.setTimeout(() => { void this.announce() }, 1000))
    this.timers.push(clock.setInterval(() => { void this.sample() }, this.init.sampleIntervalMs ?? 1000))
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    const { clock, mdns, log } = this.components
    for (const t of this.timers) { clock.clearTimeout(t); clock.clearInterval(t) }
    this.timers = []
    const goodbye = this.records.map((r) => ({ ...r, ttl: 0 }))
    mdns.unregister(this.records)
    await mdns.announce(goodbye)
    log.info({ peer: this.advertisement.name }, 'sent goodbye')
  }

  /** Re-announce now if the live status moved materially and the rate limit allows. */
  async sample (): Promise<void> {
    if (!this.running || this.sampling) return
    this.sampling = true
    try {
      const sampled = await this.components.sampleLiveStatus()
      const tooSoon = this.components.clock.now() - this.lastAnnounceAt < (this.init.minAnnounceIntervalMs ?? 1000)
      if (!this.running || tooSoon || !isMaterialChange(this.advertisement, sampled, this.init.thresholds)) return
      this.components.log.debug({ peer: this.advertisement.name, ...sampled }, 'live status changed')
      this.advertisement = { ...this.advertisement, ...sampled }
      await this.publish()
    } catch (err) {
      this.components.log.warn({ peer: this.advertisement.name, err: (err as Error).message }, 'sampling live status failed')
    } finally {
      this.sampling = false
    }
  }

  private async publish (): Promise<void> {
    const { mdns } = this.components
    const ad = this.advertisement
    const service = new Service({
      name: ad.name,
      type: SERVICE_TYPE,
      port: this.init.port,
      host: `${ad.name}.local`,
      txt: encodeAdvertisement(ad)
    }, () => {}, () => {})
    const allowed = new Set(localAddresses(mdns.interfaceName))
    const records = service.records().filter((r) => (r.type !== 'A' && r.type !== 'AAAA') || allowed.has(r.data as string))
    // The record server keeps the first TXT it was given under a name; drop the old one first.
    if (this.records.length > 0) mdns.unregister(this.records.filter((r) => r.type === 'TXT'))
    mdns.register(records)
    this.records = records
    await this.announce()
  }

  private async announce (): Promise<void> {
    if (!this.running) return
    this.lastAnnounceAt = this.components.clock.now()
    await this.components.mdns.announce(this.records)
  }
}
