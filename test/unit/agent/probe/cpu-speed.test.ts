import { describe, expect, it } from 'vitest'
import { measureCpuSpeed, REFERENCE_ROUND_MS } from '../../../../agent/probe/cpu-speed.ts'

/** A clock where every round takes `ms`, except the ones listed as slower. */
function steppingClock (ms: number, slower: Record<number, number> = {}): () => bigint {
  let t = 0n
  let call = 0
  return () => {
    const round = Math.floor(call / 2)
    if (call % 2 === 1) t += BigInt(Math.round((slower[round] ?? ms) * 1e6))
    call++
    return t
  }
}

describe('measureCpuSpeed', () => {
  it('is 1 on the reference machine and scales inversely with round time', () => {
    expect(measureCpuSpeed(steppingClock(REFERENCE_ROUND_MS))).toBe(1)
    expect(measureCpuSpeed(steppingClock(REFERENCE_ROUND_MS / 4))).toBe(4)
    expect(measureCpuSpeed(steppingClock(REFERENCE_ROUND_MS * 2))).toBe(0.5)
  })

  it('takes the fastest round, so other load on the machine does not count', () => {
    expect(measureCpuSpeed(steppingClock(REFERENCE_ROUND_MS, { 0: 100, 3: 50, 5: 80 }))).toBe(1)
  })

  it('measures this machine within a sane range, and repeatably', () => {
    const runs = [measureCpuSpeed(), measureCpuSpeed(), measureCpuSpeed()]
    for (const speed of runs) expect(speed).toBeGreaterThan(0.05)
    expect(Math.max(...runs) / Math.min(...runs)).toBeLessThan(2)
  })
})
