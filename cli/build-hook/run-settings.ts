import { availableParallelism } from 'node:os'
import { settingValue, type Setting, type TryRequest } from './messages.ts'

/** What the hook reads of the settings Nix sends it, for the agent to plan with. */

/**
 * Nix's `max-jobs` as it sent it: the agent needs it, because Nix says it is willing to build
 * locally for every derivation of a batch before it starts any of them.
 */
export function localMaxJobs (settings: Setting[]): number | undefined {
  const value = settingValue(settings, 'max-jobs')
  if (value === undefined) return undefined
  const n = value === 'auto' ? availableParallelism() : Number(value)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

/** Nix's `build-poll-interval`: it wakes postponed builds at most once a second, whatever it says. */
export function pollInterval (settings: Setting[]): number | undefined {
  const value = settingValue(settings, 'build-poll-interval')
  if (value === undefined || !/^\d+$/.test(value)) return undefined
  return Math.min(3600, Math.max(1, Number(value)))
}

const words = (value: string | undefined): string[] => value === undefined ? [] : value.split(/\s+/).filter((w) => w !== '')

/**
 * Whether Nix could build the request here (Nix 2.8's ParsedDerivation::canBuildLocally): its
 * system is `system` or one of `extra-platforms` (a builtin builds anywhere), and
 * `system-features` has every feature it requires. A setting Nix did not send allows it.
 */
export function buildsHere (settings: Setting[], request: Pick<TryRequest, 'system' | 'requiredFeatures'>): boolean {
  const system = settingValue(settings, 'system')
  const features = settingValue(settings, 'system-features')
  const platforms = [system, ...words(settingValue(settings, 'extra-platforms'))]
  const systemFits = system === undefined || request.system === 'builtin' || platforms.includes(request.system)
  const here = words(features)
  return systemFits && (features === undefined || request.requiredFeatures.every((f) => here.includes(f)))
}
