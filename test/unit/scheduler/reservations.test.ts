import { describe, expect, it } from 'vitest'
import { chainsEnd, remainingSeconds, Reservations } from '../../../scheduler/reservations.ts'
import { ManualClock } from '../../support/manual-clock.ts'

describe('chainsEnd', () => {
  it('is when the last running build with a chain after it, and that chain, should end', () => {
    // At 10 s: 100 units at 4 per second started at 0 s has 15 s left, then a 30 s chain.
    const builds = [
      { at: 0, rate: 4, work: 100, chainAfter: 30 },
      { at: 5000, rate: 1, work: 20, chainAfter: 5 },
      // A build nothing waits for, or of unknown work, says nothing of how long the run lasts.
      { at: 0, rate: 1, work: 500 },
      { at: 0, rate: 1, work: undefined, chainAfter: 999 }
    ]
    expect(chainsEnd(builds, 10_000)).toBe(45)
    expect(remainingSeconds(builds, 10_000)).toEqual([15, 15, 490])
    expect(chainsEnd(builds.slice(2), 10_000)).toBeUndefined()
  })
})

describe('Reservations', () => {
  it('holds a build sent to a builder until the hook releases it, or its run of Nix has ended', () => {
    const clock = new ManualClock()
    const ended = new Set<number>()
    const reservations = new Reservations(clock, { runAlive: (run) => !ended.has(run) })
    const sent = { peer: 'b1', name: 'gcc', rate: 4, work: 400, chainAfter: 30 }
    const released = reservations.reserve({ ...sent, nixRun: 101 })
    reservations.reserve({ ...sent, nixRun: 202 })
    reservations.reserve({ ...sent, nixRun: 303 })
    clock.advance(10_000)
    expect(reservations.count('b1')).toBe(3)
    expect(reservations.release(released, true)?.nixRun).toBe(101)
    // Run 202 was stopped: its hook died before it could release. Runs are looked at once a
    // second (a decision asks several times for each builder); then the builder's own count says the rest.
    ended.add(202)
    expect(reservations.count('b1')).toBe(2)
    clock.advance(1000)
    expect(reservations.count('b1')).toBe(1)
    expect(reservations.endsIn('b1')).toEqual([89])
    expect(reservations.chainsEndIn()).toBe(119)
    ended.add(303)
    clock.advance(1000)
    expect(reservations.endsIn('b1')).toEqual([])
    expect(reservations.chainsEndIn()).toBeUndefined()
  })

  it('counts the builds of each run still running, and remembers for a while what ended on each builder', () => {
    const clock = new ManualClock()
    const killed = new Set([9003])
    const reservations = new Reservations(clock, { runAlive: (pid) => !killed.has(pid) })
    const sent = { peer: 'b1', name: 'gcc', rate: 4, work: 400 }
    const built = reservations.reserve({ ...sent, nixRun: 101, hook: 9001 })
    const declined = reservations.reserve({ ...sent, nixRun: 101, hook: 9002 })
    reservations.reserve({ ...sent, peer: 'b2', nixRun: 202, hook: 9004 })
    // Its hook was killed before it could release: Nix no longer counts that build.
    reservations.reserve({ ...sent, peer: 'b2', nixRun: 202, hook: 9003 })
    // A hook that does not name itself: nothing to tell whether Nix still counts it.
    reservations.reserve({ ...sent, peer: 'b2', nixRun: 202 })
    expect([reservations.ofRun(101), reservations.ofRun(202), reservations.ofRun(303), reservations.ofRun(undefined)]).toEqual([2, 1, 0, 0])
    clock.advance(2000)
    const endedAt = clock.now()
    reservations.release(built, true)
    // Declined by Nix's own hook: it never got to the builder, whose count never had it.
    reservations.release(declined, false)
    expect(reservations.ofRun(101)).toBe(0)
    expect([reservations.endedSince('b1', endedAt - 500), reservations.endedSince('b1', endedAt), reservations.endedSince('b2', 0)]).toEqual([1, 0, 0])
    clock.advance(10_001)
    reservations.release(reservations.reserve({ ...sent, peer: 'b2' }), true)
    expect([reservations.endedSince('b1', 0), reservations.endedSince('b2', 0)]).toEqual([0, 1])
  })
})
