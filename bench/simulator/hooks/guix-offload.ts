import type { Hook } from '../hook.ts'
import { matches } from '../machines.ts'
import type { Rng } from '../rng.ts'

/** Guix's `overload-threshold` default. */
const OVERLOAD = 0.8

/**
 * `guix offload`: shuffle the matching machines, take those with a free slot, try them fastest
 * first and accept the first whose load is under the threshold. It never offers the build back
 * to the master unless no machine could ever build it.
 */
export function guixOffloadHook (rng: Rng): Hook {
  return (request, pool) => {
    const able = pool.machines.filter((v) => !v.machine.local && matches(v.machine, request.system, request.requiredFeatures))
    if (able.length === 0) return { kind: 'decline' }
    const withSlot = rng.shuffle(able).filter((v) => v.running.length < v.machine.slots)
    // Array.prototype.sort is stable, so equal speeds keep the shuffled order, as in Guix.
    const chosen = withSlot.sort((a, b) => b.machine.speed - a.machine.speed).find((v) => v.load < OVERLOAD)
    return chosen === undefined ? { kind: 'postpone' } : { kind: 'accept', machine: chosen.machine.name }
  }
}
