import { describe, expect, it } from 'vitest'
import { LocalBuilds } from '../../../scheduler/local-builds.ts'
import { ManualClock } from '../../support/manual-clock.ts'

/** Nix holds every build's output locks until it ends: what these tests' builds do. */
const held = async (builds: string[][]): Promise<boolean[]> => builds.map(() => true)

describe('LocalBuilds', () => {
  it('counts a build until its outputs exist, until Nix lets go of their locks (it failed), or until it is too old', async () => {
    const clock = new ManualClock()
    const store = new Set<string>()
    const locked = new Set(['a.drv-out', 'b.drv-out', 'c.drv-out'])
    // Where the lock table cannot be read, nothing is known of the locks.
    let table = true
    const outputsLocked = async (builds: string[][]): Promise<Array<boolean | null>> => builds.map((outputs) => table ? outputs.some((o) => locked.has(o)) : null)
    const builds = new LocalBuilds({ clock, outputsOf: async (d) => [`${d}-out`], exists: async (p) => store.has(p), outputsLocked }, 60_000)
    for (const name of ['a', 'b', 'c']) await builds.add(`${name}.drv`, { name, rate: 1, work: undefined })
    expect(await builds.running('d.drv')).toBe(3)
    expect(await builds.running('a.drv')).toBe(2)
    store.add('a.drv-out')
    locked.delete('a.drv-out')
    expect(await builds.running('d.drv')).toBe(2)
    // b failed: its output never came, and Nix let go of its lock.
    locked.delete('b.drv-out')
    expect(await builds.running('d.drv')).toBe(1)
    table = false
    locked.delete('c.drv-out')
    expect(await builds.running('d.drv')).toBe(1)
    clock.advance(60_001)
    expect(await builds.running('d.drv')).toBe(0)
  })

  it('notices a finished build within a second, without waiting for the next decision', async () => {
    const clock = new ManualClock()
    const store = new Set<string>()
    const done: Array<[string, number]> = []
    const builds = new LocalBuilds({ clock, outputsOf: async (d) => [`${d}-out`], exists: async (p) => store.has(p), onDone: (b, seconds) => { done.push([b.name, seconds]) }, outputsLocked: held })
    builds.start()
    await builds.add('a.drv', { name: 'a', rate: 1, work: undefined })
    clock.advance(3000)
    store.add('a.drv-out')
    clock.advance(1000)
    await new Promise((resolve) => setImmediate(resolve))
    expect(done).toEqual([['a', 4]])
    builds.stop()
    expect(clock.pending).toBe(0)
  })

  it('says when builds of known work should end, and reports each finished one with its wall time', async () => {
    const clock = new ManualClock()
    const store = new Set<string>()
    const done: Array<[string, number]> = []
    const builds = new LocalBuilds({ clock, outputsOf: async (d) => [`${d}-out`], exists: async (p) => store.has(p), onDone: (b, seconds) => { done.push([b.name, seconds]) }, outputsLocked: held })
    await builds.add('a.drv', { name: 'a', rate: 4, work: 40 })
    await builds.add('b.drv', { name: 'b', rate: 4, work: undefined })
    clock.advance(4000)
    expect(builds.endsIn()).toEqual([6])
    store.add('a.drv-out')
    clock.advance(2000)
    expect(await builds.running('x.drv')).toBe(1)
    expect(done).toEqual([['a', 6]])
  })

  it('takes a build past its estimate to need a quarter of it more, not to be over already', async () => {
    const clock = new ManualClock()
    const builds = new LocalBuilds({ clock, outputsOf: async () => [], exists: async () => false })
    await builds.add('a.drv', { name: 'a', rate: 4, work: 40 })
    clock.advance(30_000)
    expect(builds.endsIn()).toEqual([2.5])
  })

  it('stops counting a build of a run of Nix that ended, and reports it as no finished build', async () => {
    const clock = new ManualClock()
    const ended = new Set<number>()
    const done: string[] = []
    const builds = new LocalBuilds({ clock, outputsOf: async (d) => [`${d}-out`], exists: async () => false, onDone: (b) => { done.push(b.name) }, runAlive: (run) => !ended.has(run), outputsLocked: held })
    await builds.add('a.drv', { name: 'a', rate: 1, work: 100, chainAfter: 10, nixRun: 101 })
    await builds.add('b.drv', { name: 'b', rate: 1, work: 100, nixRun: 202 })
    await builds.add('c.drv', { name: 'c', rate: 1, work: 100 })
    expect(await builds.running('x.drv')).toBe(3)
    expect(builds.chainsEndIn()).toBe(110)
    ended.add(101)
    expect(await builds.running('x.drv')).toBe(2)
    expect(builds.all('x.drv').map((b) => b.name)).toEqual(['b', 'c'])
    expect(builds.chainsEndIn()).toBeUndefined()
    expect(done).toEqual([])
  })
})
