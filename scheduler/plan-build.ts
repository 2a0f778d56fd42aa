/**
 * Where one build should run, decided on live data when Nix asks. Pure: the agent feeds it the
 * peer table and its own reservations; the simulator in bench/ feeds it simulated machines.
 */

export interface BuildRequest {
  system: string
  requiredFeatures: string[]
  /** Nix has a free local slot and would build it here if we declined. */
  amWilling: boolean
}

/** A machine that could take the build: a remote builder, or the master itself. */
export interface Candidate {
  name: string
  local: boolean
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  slots: number
  /** Builds running there now, including the ones we have sent and it has not reported yet. */
  slotsInUse: number
  cores: number
  speed: number
  /** 0..1 */
  load: number
}

export interface PlanPolicy {
  /** A builder whose load is at or over this takes nothing new (Guix's default is 0.8). */
  overloadThreshold: number
}

export const defaultPlanPolicy: PlanPolicy = { overloadThreshold: 0.8 }

export type BuildDecision =
  /** Build on the master: the hook declines and Nix builds locally. */
  | { kind: 'local' }
  | { kind: 'remote', name: string }
  /** Every machine that could build it is busy: ask again later. */
  | { kind: 'postpone' }
  /** No machine can build it at all: Nix reports the missing system or feature. */
  | { kind: 'impossible' }

export function canBuild (c: Candidate, request: BuildRequest): boolean {
  if (!c.systems.includes(request.system)) return false
  const required = new Set(request.requiredFeatures)
  if (request.requiredFeatures.some((f) => !c.supportedFeatures.includes(f) && !c.mandatoryFeatures.includes(f))) return false
  return c.mandatoryFeatures.every((f) => required.has(f))
}

/**
 * How fast a new build would go there: the machine's speed, shared with what already runs on it.
 * A busy CPU (load) and busy slots both slow a new build down.
 */
export function expectedRate (c: Candidate): number {
  const share = Math.min(1, c.cores / (c.slotsInUse + 1))
  return c.speed * share * (1 - Math.min(0.95, c.load * 0.5))
}

/**
 * Picks the free machine where the build is expected to finish first. `big-parallel` builds
 * prefer the most cores. The master counts only when Nix says it has a local slot.
 */
export function planBuild (request: BuildRequest, candidates: Candidate[], policy: PlanPolicy = defaultPlanPolicy): BuildDecision {
  const able = candidates.filter((c) => canBuild(c, request))
  if (able.length === 0) return { kind: 'impossible' }
  const free = able.filter((c) => c.local
    ? request.amWilling
    : c.slotsInUse < c.slots && c.load < policy.overloadThreshold)
  if (free.length === 0) return { kind: 'postpone' }
  const bigParallel = request.requiredFeatures.includes('big-parallel')
  const best = free.reduce((a, b) => {
    if (bigParallel && a.cores !== b.cores) return b.cores > a.cores ? b : a
    const ra = expectedRate(a)
    const rb = expectedRate(b)
    if (ra !== rb) return rb > ra ? b : a
    return a.local ? a : b.local ? b : a.name <= b.name ? a : b
  })
  return best.local ? { kind: 'local' } : { kind: 'remote', name: best.name }
}
