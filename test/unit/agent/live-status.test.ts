import { describe, expect, it } from 'vitest'
import { isMaterialChange } from '../../../agent/live-status.ts'

const GiB = 1024 ** 3
const MiB = 1024 ** 2

describe('isMaterialChange', () => {
  const announced = { load: 0.5, freeDiskBytes: 50 * GiB }

  it.each([
    ['identical sample', { load: 0.5, freeDiskBytes: 50 * GiB }, false],
    ['load wobbles inside the band', { load: 0.58, freeDiskBytes: 50 * GiB }, false],
    ['load drops by the band', { load: 0.4, freeDiskBytes: 50 * GiB }, true],
    ['load rises past the band', { load: 0.75, freeDiskBytes: 50 * GiB }, true],
    ['disk moves 1%', { load: 0.5, freeDiskBytes: 49.5 * GiB }, false],
    ['disk moves 10%', { load: 0.5, freeDiskBytes: 45 * GiB }, true]
  ])('%s', (_, sample, expected) => {
    expect(isMaterialChange(announced, sample)).toBe(expected)
  })

  it('always announces crossing the 100 MiB eligibility floor, even by a few bytes', () => {
    expect(isMaterialChange({ load: 0, freeDiskBytes: 100 * MiB + 10 }, { load: 0, freeDiskBytes: 100 * MiB - 10 })).toBe(true)
    expect(isMaterialChange({ load: 0, freeDiskBytes: 100 * MiB - 10 }, { load: 0, freeDiskBytes: 100 * MiB + 10 })).toBe(true)
  })

  it('does not announce small absolute moves on a nearly full disk', () => {
    expect(isMaterialChange({ load: 0, freeDiskBytes: 200 * MiB }, { load: 0, freeDiskBytes: 260 * MiB })).toBe(false)
  })

  it('a noisy load oscillating around the announced value never triggers', () => {
    const samples = Array.from({ length: 200 }, (_, i) => ({ load: 0.5 + 0.09 * Math.sin(i), freeDiskBytes: 50 * GiB }))
    expect(samples.filter((s) => isMaterialChange(announced, s))).toHaveLength(0)
  })
})
