import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { ineligibleReason } from '../../../scheduler/eligibility.ts'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { PeerTable } from '../../../scheduler/peer-table.ts'
import { SshReachability, type SshReachabilityInit } from '../../../scheduler/ssh-reachability.ts'
import type { SshHandshakeResult } from '../../../scheduler/ssh-handshake.ts'
import { advertisement, sighting, statusFrom } from '../../support/advertisements.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

/**
 * A table with one verified builder, b1, and its SSH checks: `answer` is what the next check
 * finds; `checks` are when each ran, in ms from the start.
 */
async function oneBuilder (first: SshHandshakeResult, init: SshReachabilityInit) {
  const clock = new ManualClock()
  const start = clock.now()
  const source = Object.assign(new EventEmitter<PeerSourceEvents>(), { start () {}, stop () {} })
  const table = new PeerTable({ clock, log }, { expireAfterMs: 3_600_000, statusTimeoutMs: 3_600_000 })
  table.follow(source)
  await table.start()
  const scene = { answer: first, checks: [] as number[], gate: null as Promise<void> | null }
  const reachability = new SshReachability({ table, clock, log, check: async () => { scene.checks.push(clock.now() - start); await scene.gate; return scene.answer } }, init)
  reachability.start()
  const ad = advertisement({ name: 'b1' })
  const s = sighting(ad, clock.now())
  source.emit('sighting', s)
  table.setTrust(s.key, true, null)
  table.setStatus(s.key, statusFrom(ad), clock.now())
  table.setAuthorized(s.key, true)
  await settle()
  const reason = (): string | null => ineligibleReason(table.get(s.key)!, undefined, clock.now())
  const heardFrom = (): void => {
    source.emit('alive', s.key, clock.now())
    table.setStatus(s.key, statusFrom(ad), clock.now())
  }
  const stop = async (): Promise<void> => {
    reachability.stop()
    await table.stop()
  }
  return Object.assign(scene, { clock, key: s.key, reachability, reason, heardFrom, stop })
}

describe('SshReachability', () => {
  it('leaves a builder whose sshd fails out, retries after a growing wait capped at a few minutes, and lets it back when it answers', async () => {
    const b1 = await oneBuilder({ ok: false, reason: 'unreachable: connect ECONNREFUSED' }, { minBackoffMs: 5000, maxBackoffMs: 60_000 })
    expect(b1.checks).toHaveLength(1)
    expect(b1.reason()).toBe('SSH check failed (unreachable: connect ECONNREFUSED); next try in 5s')

    for (let i = 0; i < 600; i++) {
      b1.clock.advance(1000)
      b1.heardFrom()
      await settle()
    }
    const gaps = b1.checks.slice(1).map((t, i) => (t - b1.checks[i]!) / 1000)
    expect(gaps.slice(0, 5)).toEqual([5, 10, 20, 40, 60])
    expect(Math.max(...gaps)).toBe(60)

    b1.answer = { ok: true, reason: null }
    b1.clock.advance(61_000)
    b1.heardFrom()
    await settle()
    expect(b1.reason()).toBeNull()
    await b1.stop()
  })

  it('checks a builder at once when told Nix\'s own hook would not build there, at most once per minimum wait', async () => {
    const b1 = await oneBuilder({ ok: true, reason: null }, { recheckMs: 60_000, minBackoffMs: 5000 })
    expect(b1.checks).toEqual([0])

    // Its sshd is gone, its agent still streams status: the next recheck is a minute away.
    b1.answer = { ok: false, reason: 'unreachable: connect ECONNREFUSED' }
    b1.clock.advance(2000)
    b1.reachability.checkNow(b1.key)
    await settle()
    expect(b1.checks).toEqual([0, 2000])
    expect(b1.reason()).toBe('SSH check failed (unreachable: connect ECONNREFUSED); next try in 5s')
    b1.clock.advance(1000)
    b1.reachability.checkNow(b1.key)
    b1.reachability.checkNow('no-such-peer')
    await settle()
    expect(b1.checks).toEqual([0, 2000])
    await b1.stop()
    b1.clock.advance(10_000)
    b1.reachability.checkNow(b1.key)
    await settle()
    expect(b1.checks, 'checked after stop()').toEqual([0, 2000])
  })

  it('holds a builder suspect while the check Nix\'s own hook asked for runs, and only that one', async () => {
    const b1 = await oneBuilder({ ok: true, reason: null }, { recheckMs: 60_000, minBackoffMs: 5000 })
    let answer = (): void => {}
    b1.gate = new Promise((resolve) => { answer = resolve })
    // An sshd that hangs: the check waits for its timeout.
    b1.answer = { ok: false, reason: 'timed out' }
    b1.clock.advance(2000)
    const checking = b1.reachability.checkNow(b1.key)
    await settle()
    expect(b1.reachability.isSuspect(b1.key)).toBe(true)
    expect(b1.reason()).toBeNull()
    answer()
    await checking
    expect(b1.reachability.isSuspect(b1.key)).toBe(false)
    expect(b1.reason()).toMatch(/^SSH check failed \(timed out\)/)
    // The minute's recheck holds nobody suspect.
    b1.answer = { ok: true, reason: null }
    b1.gate = new Promise((resolve) => { answer = resolve })
    b1.clock.advance(6000)
    b1.heardFrom()
    await settle()
    expect(b1.checks).toHaveLength(3)
    expect(b1.reachability.isSuspect(b1.key)).toBe(false)
    answer()
    await b1.stop()
  })
})
