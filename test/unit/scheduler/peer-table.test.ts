import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { displayName, PeerTable } from '../../../scheduler/peer-table.ts'
import { toPeerView } from '../../../scheduler/eligibility.ts'
import { advertisement as base, rawTxt, sighting } from '../../support/advertisements.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'

const advertisement = (over: Partial<Advertisement> = {}): Advertisement => base({ name: 'b1', load: 0.1, sshUser: 'root', ...over })
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

class StaticSource extends EventEmitter<PeerSourceEvents> {
  started = false
  start (): void { this.started = true }
  stop (): void { this.started = false }
}

async function table (trustAll = true): Promise<{ clock: ManualClock, source: StaticSource, table: PeerTable, changes: () => number }> {
  const clock = new ManualClock()
  const source = new StaticSource()
  const t = new PeerTable({ clock, log }, { trustAll, expireAfterMs: 7000 })
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
    expect(view.reason).toMatch(/^invalid advertisement: sys: /)
  })

  it('drops addresses that cannot be a builder', async () => {
    const { clock, source, table: t } = await table()
    source.emit('sighting', { ...sighting(advertisement(), clock.now()), addresses: ['127.0.0.1', '224.0.0.251', 'not-an-ip', '10.9.0.7'] })
    expect(t.list()[0]?.addresses).toEqual(['10.9.0.7'])
    source.emit('sighting', { ...sighting(advertisement(), clock.now()), addresses: ['0.0.0.0'] })
    expect(t.list()[0]?.invalidReason).toBe('no usable address')
  })

  it('shows every peer as untrusted without --insecure-trust-all', async () => {
    const { clock, source, table: t } = await table(false)
    source.emit('sighting', sighting(advertisement(), clock.now()))
    const view = toPeerView(t.list()[0]!)
    expect(view.trusted).toBe(false)
    expect(view.eligible).toBe(false)
    expect(view.reason).toMatch(/not trusted/)
  })

  it('makes hostile instance names printable and bounded', () => {
    expect(displayName('evil\nname\u0007')).toBe('evil?name?')
    expect(displayName('x'.repeat(300))).toHaveLength(63)
  })
})
