import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { Advertiser } from '../../../agent/advertiser.ts'
import type { LiveStatus } from '../../../agent/live-status.ts'
import type { MdnsEndpoint, ServiceRecord } from '../../../common/mdns.ts'
import { decodeAdvertisement } from '../../../wire/txt.ts'
import { advertisement as base } from '../../support/advertisements.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'

const advertisement = (over: Partial<Advertisement> = {}): Advertisement => base({ name: 'b1', ...over })
import { ManualClock } from '../../support/manual-clock.ts'

/** Records what would go on the wire; the real socket is exercised by the LAN tests. */
class RecordingMdns {
  readonly interfaceName = undefined
  readonly announced: ServiceRecord[][] = []
  registered: ServiceRecord[] = []
  register (records: ServiceRecord[]): void { this.registered.push(...records) }
  unregister (records: ServiceRecord[]): void {
    this.registered = this.registered.filter((r) => !records.some((o) => o.type === r.type && o.name === r.name))
  }

  async announce (records: ServiceRecord[]): Promise<void> { this.announced.push(records) }

  txtOf (records: ServiceRecord[]): LiveStatus {
    const txt = records.find((r) => r.type === 'TXT')
    const ad = decodeAdvertisement('b1', txt?.data as Uint8Array[])
    return { load: ad.load, freeDiskBytes: ad.freeDiskBytes }
  }
}

async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve()
}

const GiB = 1024 ** 3

/** The host's live status is whatever the test last set. */
function setup (): { clock: ManualClock, mdns: RecordingMdns, advertiser: Advertiser, host: { status: LiveStatus } } {
  const clock = new ManualClock()
  const mdns = new RecordingMdns()
  const host = { status: { load: 0.1, freeDiskBytes: 20 * GiB } }
  const advertiser = new Advertiser({
    mdns: mdns as unknown as MdnsEndpoint,
    clock,
    log: pino({ level: 'silent' }),
    sampleLiveStatus: async () => host.status
  }, { advertisement: advertisement({ load: 0.1, freeDiskBytes: 20 * GiB }), port: 22, sampleIntervalMs: 250 })
  return { clock, mdns, advertiser, host }
}

async function step (clock: ManualClock, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 250) { clock.advance(250); await settle() }
}

describe('Advertiser', () => {
  it('announces twice a second apart on start, with PTR, SRV, TXT and the host name', async () => {
    const { clock, mdns, advertiser } = setup()
    await advertiser.start()
    clock.advance(1000)
    await settle()
    expect(mdns.announced).toHaveLength(2)
    const types = mdns.announced[0]!.map((r) => `${r.type} ${r.name}`)
    expect(types).toEqual(expect.arrayContaining(['PTR _buildmesh._tcp.local', 'SRV b1._buildmesh._tcp.local', 'TXT b1._buildmesh._tcp.local']))
    expect(mdns.announced[0]!.find((r) => r.type === 'SRV')?.data).toEqual({ port: 22, target: 'b1.local' })
    await advertiser.stop()
  })

  it('re-announces a material load change, at most once a second, and only with the new TXT registered', async () => {
    const { clock, mdns, advertiser, host } = setup()
    await advertiser.start()
    await step(clock, 1000)
    const before = mdns.announced.length
    // Flapping every 250 ms between busy and idle for 3 s: a second apart at most.
    for (let t = 0; t < 12; t++) {
      host.status = { load: t % 2 === 0 ? 0.9 : 0.1, freeDiskBytes: 20 * GiB }
      await step(clock, 250)
    }
    host.status = { load: 0.9, freeDiskBytes: 20 * GiB }
    await step(clock, 1000)
    const loads = mdns.announced.slice(before).map((r) => mdns.txtOf(r).load)
    expect(loads.length).toBeGreaterThanOrEqual(2)
    expect(loads.length).toBeLessThanOrEqual(4)
    expect(loads.at(-1)).toBe(0.9)
    expect(mdns.registered.filter((r) => r.type === 'TXT')).toHaveLength(1)
    expect(advertiser.current.load).toBe(0.9)
    await advertiser.stop()
  })

  it('stays quiet while the load wobbles inside the band', async () => {
    const { clock, mdns, advertiser, host } = setup()
    await advertiser.start()
    await step(clock, 1000)
    const before = mdns.announced.length
    for (const load of [0.12, 0.15, 0.05, 0.18, 0.11, 0.02, 0.19]) {
      host.status = { load, freeDiskBytes: 20 * GiB }
      await step(clock, 500)
    }
    expect(mdns.announced.length).toBe(before)
    await advertiser.stop()
  })

  it('says goodbye with TTL 0 on stop and leaves no timer behind', async () => {
    const { clock, mdns, advertiser } = setup()
    await advertiser.start()
    await advertiser.stop()
    const goodbye = mdns.announced.at(-1)!
    expect(goodbye.length).toBeGreaterThan(0)
    expect(goodbye.every((r) => r.ttl === 0)).toBe(true)
    expect(mdns.registered).toEqual([])
    expect(clock.pending).toBe(0)
  })
})
