import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { displayName, PeerTable } from '../../../scheduler/peer-table.ts'
import { currentAdvertisement, ineligibleReason, toPeerView } from '../../../scheduler/eligibility.ts'
import type { BuilderStatus } from '../../../wire/status.ts'
import { advertisement as base, ED25519_KEY, rawTxt, sighting, statusFrom } from '../../support/advertisements.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'

const advertisement = (over: Partial<Advertisement> = {}): Advertisement => base({ name: 'b1', load: 0.1, sshUser: 'root', ...over })
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

const status = (): BuilderStatus => statusFrom(advertisement())

class StaticSource extends EventEmitter<PeerSourceEvents> {
  started = false
  start (): void { this.started = true }
  stop (): void { this.started = false }
}

async function table (): Promise<{ clock: ManualClock, source: StaticSource, table: PeerTable, changes: () => number }> {
  const clock = new ManualClock()
  const source = new StaticSource()
  const t = new PeerTable({ clock, log }, { expireAfterMs: 7000, statusTimeoutMs: 2000 })
  let changes = 0
  t.on('change', () => { changes++ })
  t.follow(source)
  await t.start()
  return { clock, source, table: t, changes: () => changes }
}

describe('PeerTable', () => {
  it('adds, updates and removes on goodbye', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', sighting(advertisement(), clock.now()))
    expect(t.list().map((p) => [p.name, p.advertisement?.load])).toEqual([['b1', 0.1]])
    source.emit('sighting', sighting(advertisement({ load: 0.9 }), clock.now()))
    expect(t.list().map((p) => [p.name, p.advertisement?.load])).toEqual([['b1', 0.9]])
    source.emit('gone', 'b1._buildmesh._tcp.local')
    expect(t.list()).toEqual([])
    await t.stop()
    expect(source.started).toBe(false)
  })

  it('expires a peer that stops answering, but not one that keeps answering', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', sighting(advertisement({ name: 'quiet' }), clock.now()))
    source.emit('sighting', sighting(advertisement({ name: 'chatty' }), clock.now()))
    for (let i = 0; i < 5; i++) {
      clock.advance(2000)
      source.emit('alive', 'chatty._buildmesh._tcp.local', clock.now())
    }
    expect(t.list().map((p) => p.name)).toEqual(['chatty'])
    await t.stop()
    expect(clock.pending).toBe(0)
  })

  it('keeps an invalid advertisement visible with its reason, and never eligible', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', { ...sighting(advertisement(), clock.now()), rawTxt: rawTxt({ v: '1', sys: 'x86_64-linux\nssh://evil', slots: '2' }) })
    const [peer] = t.list()
    expect(peer?.advertisement).toBeNull()
    expect(peer?.invalidReason).toMatch(/^sys: .* is not a Nix system type/)
    const view = toPeerView(peer!)
    expect(view).toMatchObject({ name: 'b1', eligible: false, trusted: false })
    t.setTrust(peer!.key, true, null)
    expect(view.reason).toMatch(/^invalid advertisement: sys: /)
  })

  it('drops addresses that cannot be a builder', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', { ...sighting(advertisement(), clock.now()), addresses: ['127.0.0.1', '224.0.0.251', 'not-an-ip', 'fe80::1', '10.9.0.7', 'fe80::2%eth0'] })
    expect(t.list()[0]?.addresses).toEqual(['10.9.0.7', 'fe80::2%eth0'])
    source.emit('sighting', { ...sighting(advertisement(), clock.now()), addresses: ['0.0.0.0'] })
    expect(t.list()[0]?.invalidReason).toBe('no usable address')
  })

  it('a peer is listed only once verified and with a fresh status; a silent one drops out', async () => {
    const { clock, source, table: t } = await table()
    const key = 'b1._buildmesh._tcp.local'
    source.emit('sighting', sighting(advertisement(), clock.now()))
    expect(toPeerView(t.get(key)!, undefined, clock.now())).toMatchObject({ trusted: false, eligible: false, reason: 'not trusted: not verified yet' })
    t.setStatus(key, status(), clock.now())
    expect(t.get(key)?.status).toBeNull()
    t.setTrust(key, true, null)
    expect(ineligibleReason(t.get(key)!)).toBe('no status received yet')
    t.setStatus(key, status(), clock.now())
    expect(ineligibleReason(t.get(key)!)).toBe('waiting for the builder to let the master\'s SSH key in')
    t.setAuthorized(key, true)
    expect(ineligibleReason(t.get(key)!)).toBeNull()
    expect(currentAdvertisement(t.get(key)!)?.hostKey).toBe(ED25519_KEY)
    for (let i = 0; i < 5; i++) {
      clock.advance(500)
      source.emit('alive', key, clock.now())
    }
    expect(ineligibleReason(t.get(key)!)).toBe('status is stale: the builder stopped answering')
    expect(toPeerView(t.get(key)!, undefined, clock.now()).statusAgeSeconds).toBeGreaterThanOrEqual(2)
  })

  it('takes the host key only from the status stream, never from mDNS', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', sighting(advertisement(), clock.now()))
    expect(t.list()[0]?.advertisement?.hostKey).toBeNull()
  })

  it('forgets what it verified when the peer claims another identity', async () => {
    const { clock, source, table: t } = await table()
    const key = 'b1._buildmesh._tcp.local'
    source.emit('sighting', sighting(advertisement(), clock.now()))
    t.setTrust(key, true, null)
    t.setStatus(key, status(), clock.now())
    source.emit('sighting', sighting(advertisement({ load: 0.3 }), clock.now()))
    expect(t.get(key)).toMatchObject({ trusted: true })
    source.emit('sighting', sighting(advertisement({ peerId: '12D3KooWLAvDGDqETkFvLwwpiufetpJiz16J3WPsa7pX8aD1yRh8' }), clock.now()))
    expect(t.get(key)).toMatchObject({ trusted: false, status: null, untrustedReason: 'not verified yet' })
  })

  it('forgets what it verified when the same advertisement comes from another address', async () => {
    const { clock, source, table: t } = await table()
    const key = 'b1._buildmesh._tcp.local'
    source.emit('sighting', sighting(advertisement(), clock.now(), '10.9.0.2'))
    t.setTrust(key, true, null)
    t.setStatus(key, status(), clock.now())
    // A host that copies b1's TXT (peer id, port) under b1's name: the link verified 10.9.0.2, not this.
    source.emit('sighting', sighting(advertisement(), clock.now(), '10.9.0.66'))
    expect(t.get(key)).toMatchObject({ addresses: ['10.9.0.66'], trusted: false, status: null, untrustedReason: 'not verified yet' })
    expect(ineligibleReason(t.get(key)!)).toMatch(/^not trusted/)
  })

  it('makes hostile instance names printable and bounded', () => {
    expect(displayName('evil\nname\u0007')).toBe('evil?name?')
    expect(displayName('x'.repeat(300))).toHaveLength(63)
  })
})
