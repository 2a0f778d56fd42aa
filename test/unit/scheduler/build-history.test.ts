import { describe, expect, it } from 'vitest'
import { BuildHistory } from '../../../scheduler/build-history.ts'

describe('BuildHistory', () => {
  it('keys builds by derivation name, without store hash or extension', () => {
    expect(BuildHistory.nameOf('/nix/store/5pnvbg995pzj8nwzd7h85bivr4736qv2-gcc-13.2.0.drv')).toBe('gcc-13.2.0')
  })

  it('moves halfway to each new measurement, and ignores nonsense', () => {
    const history = new BuildHistory()
    expect(history.expected('gcc')).toBeUndefined()
    history.record('gcc', 100)
    history.record('gcc', 200)
    history.record('gcc', Number.NaN)
    history.record('gcc', -5)
    expect(history.expected('gcc')).toBe(150)
  })

  it('takes the median over names as a typical build, and follows new records', () => {
    const history = new BuildHistory()
    expect(history.typical()).toBeUndefined()
    for (const [name, work] of [['a', 10], ['b', 400], ['c', 30]] as const) history.record(name, work)
    expect(history.typical()).toBe(30)
    history.record('d', 50)
    expect(history.typical()).toBe(40)
  })

  it('keeps a typical big-parallel build apart, as its median over the names last built so', () => {
    const history = new BuildHistory(3)
    history.record('hello', 3)
    expect(history.typicalBigParallel()).toBeUndefined()
    history.record('gcc', 1200, true)
    history.record('llvm', 2000, true)
    expect(history.typicalBigParallel()).toBe(1600)
    expect(history.typical()).toBe(1200)
    // A name built since without the feature, or forgotten, no longer counts.
    history.record('gcc', 1200)
    expect(history.typicalBigParallel()).toBe(2000)
    history.record('a', 1)
    history.record('b', 1)
    expect(history.typicalBigParallel()).toBeUndefined()
  })

  it('forgets the least recently learned name past its bound', () => {
    const history = new BuildHistory(2)
    history.record('a', 1)
    history.record('b', 2)
    history.record('a', 3)
    history.record('c', 4)
    expect([history.expected('a'), history.expected('b'), history.expected('c')]).toEqual([2, undefined, 4])
  })
})
