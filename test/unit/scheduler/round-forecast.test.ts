import { describe, expect, it } from 'vitest'
import { defaultPlanPolicy, type Candidate } from '../../../scheduler/plan-build.ts'
import { forecastDeclines, type RoundForecast } from '../../../scheduler/round-forecast.ts'
import { WaitingBuilds } from '../../../scheduler/waiting-builds.ts'
import { MAX_ANSWERED_AHEAD } from '../../../wire/control.ts'

const machine = (name: string, local: boolean, speed: number, slots: number, slotsInUse: number, endsIn: number[] = []): Candidate =>
  ({ name, local, systems: ['x86_64-linux'], supportedFeatures: [], mandatoryFeatures: [], slots, slotsInUse, cores: slots, speed, load: slotsInUse / slots, endsIn })
const build = (expectedWork: number): { system: string, requiredFeatures: string[], expectedWork: number } =>
  ({ system: 'x86_64-linux', requiredFeatures: [], expectedWork })

/** A fast master with its one slot busy, and the builds waiting for a slot, each told so at 0. */
function round (waiters: Record<string, number>, candidates: Candidate[], over: Partial<RoundForecast> = {}): RoundForecast {
  const waiting = new WaitingBuilds(5)
  for (const [key, work] of Object.entries(waiters)) waiting.wait(key, build(work), 'build-end', 0)
  waiting.buildEnded(1)
  return {
    after: 'b',
    waiting,
    candidates,
    common: { amWilling: false, typicalWork: 5 },
    now: 1,
    policy: defaultPlanPolicy,
    maxPlans: 16,
    ...over
  }
}

describe('forecastDeclines', () => {
  const allBusy = [machine('master', true, 4, 1, 1, [2]), machine('b1', false, 1, 2, 2, [3, 4])]

  it('with every slot taken, tells each later waiter of the round to keep waiting, in Nix\'s order, without weighing the queue', () => {
    const f = round({ e: 5, a: 5, c: 5, d: 5 }, allBusy)
    expect(forecastDeclines(f)).toEqual({ declines: ['c', 'd', 'e'], plans: 0 })
    // What the agent knows is not changed by answering ahead.
    expect(f.waiting.queue(1, allBusy).map((q) => q.askedAgainIn)).toEqual([0, 0, 0, 0])
  })

  it('stops at the first waiter that would start on a free slot: that changes the answers after it', () => {
    // b1 has a slot free now; the master's frees in 2 s. A 40 s build waits for the master
    // (10 s there against 40 s on b1); a 1 s build takes b1's free slot.
    const freeB1 = [machine('master', true, 4, 1, 1, [2]), machine('b1', false, 1, 2, 1, [3])]
    expect(forecastDeclines(round({ c: 40, d: 1, e: 40 }, freeB1))).toEqual({ declines: ['c'], plans: 2 })
  })

  it('weighs at most maxPlans waiters against the queue where a slot is free', () => {
    const freeB1 = [machine('master', true, 4, 1, 1, [2]), machine('b1', false, 1, 2, 1, [3])]
    expect(forecastDeclines(round({ c: 40, d: 40, e: 40 }, freeB1, { maxPlans: 2 })).declines).toEqual(['c', 'd'])
  })

  it('answers no more ahead than the hook takes, and the agent takes back as served', () => {
    const many = Object.fromEntries(Array.from({ length: MAX_ANSWERED_AHEAD + 10 }, (_, i) => [`c${String(i).padStart(5, '0')}`, 5]))
    expect(forecastDeclines(round(many, allBusy)).declines).toHaveLength(MAX_ANSWERED_AHEAD)
  })

  it('answers nothing ahead while the master has a slot: a round may start a local build with any answer', () => {
    expect(forecastDeclines(round({ c: 5 }, allBusy, { common: { amWilling: true, typicalWork: 5 } })).declines).toEqual([])
  })
})
