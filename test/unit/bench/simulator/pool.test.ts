import { describe, expect, it } from 'vitest'
import { BIG_PARALLEL, type Derivation } from '../../../../bench/simulator/graph.ts'
import { SYSTEM, type Machine } from '../../../../bench/simulator/machines.ts'
import { Pool, TRANSFER_SECONDS } from '../../../../bench/simulator/pool.ts'

const drv = (id: number, work: number, requiredFeatures: string[] = []): Derivation =>
  ({ id, name: `d${id}`, system: SYSTEM, requiredFeatures, work, pastWork: undefined, inputs: [] })
const machine = (local: boolean, cores: number, speed = 1, slots = 4): Machine =>
  ({ name: local ? 'master' : 'b1', local, systems: [SYSTEM], supportedFeatures: [BIG_PARALLEL], mandatoryFeatures: [], slots, cores, speed })

/** Runs the pool until it is empty; each build's end by derivation id. */
function runOut (pool: Pool): Map<number, number> {
  const ends = new Map<number, number>()
  let now = 0
  while (pool.size > 0) {
    const next = pool.nextEvent(now)
    for (const b of pool.advance(now, next)) ends.set(b.drv.id, next)
    now = next
  }
  return ends
}

describe('Pool', () => {
  it('runs an ordinary build on one core at the machine\'s speed', () => {
    const pool = new Pool([machine(true, 8, 4)])
    pool.start(drv(0, 8), machine(true, 8, 4), 0)
    expect(runOut(pool).get(0)).toBe(2)
  })

  it('runs a big-parallel build on up to 8 cores', () => {
    const big = machine(true, 16, 1)
    const pool = new Pool([big])
    pool.start(drv(0, 80, [BIG_PARALLEL]), big, 0)
    expect(runOut(pool).get(0)).toBe(10)
  })

  it('shares the cores when the builds want more than there are', () => {
    const m = machine(true, 8, 1)
    const pool = new Pool([m])
    pool.start(drv(0, 80, [BIG_PARALLEL]), m, 0)
    pool.start(drv(1, 8), m, 0)
    expect(pool.load(m, 0)).toBe(1)
    // 9 threads on 8 cores: the small build gets 8/9 of a core until it ends at 9 s; then the big one has all 8.
    const ends = runOut(pool)
    expect(ends.get(1)).toBeCloseTo(9)
    expect(ends.get(0)).toBeCloseTo(9 + (80 - 64) / 8)
  })

  it('copies for a remote build before it computes', () => {
    const remote = machine(false, 2)
    const pool = new Pool([remote])
    pool.start(drv(0, 1), remote, 0)
    expect(pool.load(remote, 0)).toBe(0)
    expect(runOut(pool).get(0)).toBeCloseTo(TRANSFER_SECONDS + 1)
  })

  it('refuses a build beyond the slots', () => {
    const m = machine(true, 8, 1, 1)
    const pool = new Pool([m])
    pool.start(drv(0, 1), m, 0)
    expect(() => { pool.start(drv(1, 1), m, 0) }).toThrow(/slots are all in use/)
  })
})
