import type { Hook } from '../hook.ts'
import { matches } from '../machines.ts'

/**
 * Nix's own hook (`nix __build-remote`) reading a static machines file that lists the builders
 * in order. Its load is the count of this master's own builds there (its slot lock files).
 */
export function nixStaticHook (): Hook {
  return (request, pool) => {
    const local = pool.machines.find((v) => v.machine.local)
    const canBuildLocally = request.amWilling && local !== undefined && matches(local.machine, request.system, request.requiredFeatures)
    const remotes = pool.machines
      .map((v, order) => ({ ...v, order }))
      .filter((v) => !v.machine.local && matches(v.machine, request.system, request.requiredFeatures))
    const free = remotes.filter((v) => v.running.length < v.machine.slots)
    const best = free.sort((a, b) => {
      const la = a.running.length
      const lb = b.running.length
      return la / a.machine.speed - lb / b.machine.speed ||
        b.machine.speed - a.machine.speed ||
        la - lb ||
        a.order - b.order
    })[0]
    if (best !== undefined) return { kind: 'accept', machine: best.machine.name }
    return remotes.length > 0 && !canBuildLocally ? { kind: 'postpone' } : { kind: 'decline' }
  }
}
