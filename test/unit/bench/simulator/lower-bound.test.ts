import { describe, expect, it } from 'vitest'
import { BIG_PARALLEL, type Derivation } from '../../../../bench/simulator/graph.ts'
import { lowerBound, placedLowerBound } from '../../../../bench/simulator/lower-bound.ts'
import { SYSTEM, type Machine } from '../../../../bench/simulator/machines.ts'

const drv = (id: number, work: number, inputs: number[] = [], requiredFeatures: string[] = []): Derivation =>
  ({ id, name: `d${id}`, system: SYSTEM, requiredFeatures, work, pastWork: undefined, inputs })
const machine = (speed: number, slots: number, cores: number, features: string[] = ['big-parallel']): Machine =>
  ({ name: `m${speed}`, local: false, systems: [SYSTEM], supportedFeatures: features, mandatoryFeatures: [], slots, cores, speed })

describe('lowerBound', () => {
  it('is the chain on the fastest machine for a chain', () => {
    const graph = { name: 'chain', derivations: [drv(0, 10), drv(1, 20, [0]), drv(2, 30, [1])] }
    expect(lowerBound(graph, [machine(1, 4, 4), machine(2, 4, 4)])).toMatchObject({ criticalPath: 30, value: 30 })
  })

  it('is the work over the slots\' speed for independent builds', () => {
    const graph = { name: 'flat', derivations: Array.from({ length: 10 }, (_, i) => drv(i, 6)) }
    // 60 of work; 2 slots at speed 2 and 2 at speed 1 do 6 per second.
    expect(lowerBound(graph, [machine(2, 2, 4), machine(1, 2, 4)]).value).toBeCloseTo(10)
  })

  it('counts the cores of a big-parallel build, up to 8, and no more slots than cores', () => {
    const graph = { name: 'big', derivations: [drv(0, 160, [], [BIG_PARALLEL])] }
    expect(lowerBound(graph, [machine(1, 4, 16)]).value).toBe(20)
    expect(lowerBound(graph, [machine(1, 4, 2)]).value).toBe(80)
  })

  it('adds the work that must wait for a chain to the chain', () => {
    // A 10 s build, then 8 builds of 5 that need it, on 2 slots: at least 10 + 40 / 2.
    const graph = { name: 'fan', derivations: [drv(0, 10), ...Array.from({ length: 8 }, (_, i) => drv(i + 1, 5, [0]))] }
    expect(lowerBound(graph, [machine(1, 2, 2)])).toMatchObject({ criticalPath: 15, value: 30 })
  })

  it('knows, once it has placed them, that big-parallel builds run whole on one machine', () => {
    // Two giants of 160 on a machine doing 16 a second and one doing 8, a slot each: both on the
    // fast one take 20 s, and one on each takes 20 s on the slow one. Work over capacity is 320 / 24.
    const graph = { name: 'giants', derivations: [drv(0, 160, [], [BIG_PARALLEL]), drv(1, 160, [], [BIG_PARALLEL])] }
    const machines = [machine(2, 1, 8), machine(1, 1, 8)]
    expect(lowerBound(graph, machines).value).toBeCloseTo(320 / 24)
    expect(placedLowerBound(graph, machines)).toBeCloseTo(20)
    // A giant only the fast machine can build has nowhere else to go.
    expect(placedLowerBound(graph, [machine(2, 1, 8), machine(1, 1, 8, [])])).toBeCloseTo(20)
  })

  it('is the plain bound where nothing is big-parallel', () => {
    const fan = { name: 'fan', derivations: [drv(0, 10), ...Array.from({ length: 8 }, (_, i) => drv(i + 1, 5, [0]))] }
    expect(placedLowerBound(fan, [machine(1, 2, 2)])).toBe(30)
  })
})
