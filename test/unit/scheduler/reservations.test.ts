import { describe, expect, it } from 'vitest'
import { chainsEnd, remainingSeconds } from '../../../scheduler/reservations.ts'

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
