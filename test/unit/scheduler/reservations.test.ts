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
    expect(reservations.release(released)?.nixRun).toBe(101)
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
})
