import { describe, expect, it } from 'vitest'
import { RunDerivations } from '../../../scheduler/run-derivations.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const drv = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-job-${n}.drv`
const FILE = '2049:131'

describe('RunDerivations', () => {
  it('holds a run\'s derivations once every piece of its roots file has come, in order', () => {
    const runs = new RunDerivations(new ManualClock())
    // A new hook tells only the size: nothing is held, so nothing is known.
    expect(runs.add(7, { file: FILE, size: 300, from: 300, to: 300, paths: [] })).toBe(0)
    expect(runs.of(7)).toBeUndefined()
    expect(runs.add(7, { file: FILE, size: 300, from: 0, to: 200, paths: [drv(1), drv(2)] })).toBe(200)
    expect(runs.of(7)).toBeUndefined()
    // A piece that does not go on from what is held is left out.
    expect(runs.add(7, { file: FILE, size: 300, from: 100, to: 300, paths: [drv(9)] })).toBe(200)
    expect(runs.add(7, { file: FILE, size: 300, from: 200, to: 300, paths: [drv(3)] })).toBe(300)
    expect([...runs.of(7) ?? []]).toEqual([drv(1), drv(2), drv(3)])
    // The file grew: until the rest comes, the run is not known whole.
    expect(runs.add(7, { file: FILE, size: 400, from: 400, to: 400, paths: [] })).toBe(300)
    expect(runs.of(7)).toBeUndefined()
    expect(runs.of(8)).toBeUndefined()
    expect(runs.of(undefined)).toBeUndefined()
    // A request with no piece: what is held, and 0 for a run not known.
    expect(runs.add(7, undefined)).toBe(300)
    expect(runs.add(8, undefined)).toBe(0)
  })

  it('starts over for another file under the same pid, and forgets runs not heard from', () => {
    const clock = new ManualClock()
    const runs = new RunDerivations(clock, { forgetAfterMs: 60_000, maxRuns: 2 })
    runs.add(7, { file: FILE, size: 100, from: 0, to: 100, paths: [drv(1)] })
    expect(runs.add(7, { file: '2049:132', size: 100, from: 0, to: 100, paths: [drv(2)] })).toBe(100)
    expect([...runs.of(7) ?? []]).toEqual([drv(2)])
    // Requests without a piece keep a run that is known whole.
    clock.advance(50_000)
    runs.add(7, undefined)
    clock.advance(50_000)
    runs.add(8, { file: FILE, size: 100, from: 0, to: 100, paths: [drv(3)] })
    expect([...runs.of(7) ?? []]).toEqual([drv(2)])
    clock.advance(61_000)
    runs.add(8, undefined)
    expect(runs.add(7, undefined)).toBe(0)
    expect(runs.of(7)).toBeUndefined()
    // At most two runs: a third pushes out the one heard from longest ago.
    runs.add(9, { file: FILE, size: 100, from: 0, to: 100, paths: [drv(4)] })
    clock.advance(1000)
    runs.add(10, { file: FILE, size: 100, from: 0, to: 100, paths: [drv(5)] })
    expect([8, 9, 10].map((r) => runs.of(r) === undefined)).toEqual([true, false, false])
  })

  it('refuses a piece that is not one', () => {
    const runs = new RunDerivations(new ManualClock())
    const ok = { file: FILE, size: 100, from: 0, to: 100, paths: [drv(1)] }
    expect(() => runs.add(7, 'x')).toThrow(/runRoots must be an object/)
    expect(() => runs.add(7, { ...ok, file: '../x' })).toThrow(/device and inode/)
    expect(() => runs.add(7, { ...ok, from: -1 })).toThrow(/byte offset/)
    expect(() => runs.add(7, { ...ok, to: 101 })).toThrow(/from <= to <= size/)
    expect(() => runs.add(7, { ...ok, paths: ['/etc/passwd'] })).toThrow(/derivation paths/)
    expect(() => runs.add(7, { ...ok, paths: Array(1001).fill(drv(1)) })).toThrow(/at most 1000/)
    expect(runs.of(7)).toBeUndefined()
  })
})
