import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { ineligibleReason } from '../../../scheduler/eligibility.ts'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { PeerTable } from '../../../scheduler/peer-table.ts'
import { SshReachability } from '../../../scheduler/ssh-reachability.ts'
import type { SshHandshakeResult } from '../../../scheduler/ssh-handshake.ts'
import { advertisement, sighting, statusFrom } from '../../support/advertisements.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })
const settle = async (): Promise<void> => { for (let i = 0; i < 5; i++) await Promise.resolve() }

describe('SshReachability', () => {
  it('leaves a builder whose sshd fails out, retries after a growing wait capped at a few minutes, and lets it back when it answers', async () => {
    const clock = new ManualClock()
    const source = Object.assign(new EventEmitter<PeerSourceEvents>(), { start () {}, stop () {} })
    const table = new PeerTable({ clock, log }, { expireAfterMs: 3_600_000, statusTimeoutMs: 3_600_000 })
    table.follow(source)
    await table.start()
    let answer: SshHandshakeResult = { ok: false, reason: 'unreachable: connect ECONNREFUSED' }
    const checks: number[] = []
    const reachability = new SshReachability({ table, clock, log, check: async () => { checks.push(clock.now()); return answer } }, { minBackoffMs: 5000, maxBackoffMs: 60_000 })
    reachability.start()

    const ad = advertisement({ name: 'b1' })
    const s = sighting(ad, clock.now())
    source.emit('sighting', s)
    table.setTrust(s.key, true, null)
    table.setStatus(s.key, statusFrom(ad), clock.now())
    table.setAuthorized(s.key, true)
    await settle()
    expect(checks).toHaveLength(1)
    expect(ineligibleReason(table.get(s.key)!, undefined, clock.now())).toBe('SSH check failed (unreachable: connect ECONNREFUSED); next try in 5s')

    for (let i = 0; i < 600; i++) {
      clock.advance(1000)
      source.emit('alive', s.key, clock.now())
      table.setStatus(s.key, statusFrom(ad), clock.now())
      await settle()
    }
    const gaps = checks.slice(1).map((t, i) => (t - checks[i]!) / 1000)
    expect(gaps.slice(0, 5)).toEqual([5, 10, 20, 40, 60])
    expect(Math.max(...gaps)).toBe(60)

    answer = { ok: true, reason: null }
    clock.advance(61_000)
    table.setStatus(s.key, statusFrom(ad), clock.now())
    await settle()
    expect(ineligibleReason(table.get(s.key)!, undefined, clock.now())).toBeNull()
    reachability.stop()
    await table.stop()
  })
})
