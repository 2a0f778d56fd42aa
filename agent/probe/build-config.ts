import { probeBinfmtSystems } from './binfmt.ts'
import type { ProbeDeps } from './deps.ts'
import { nativeSystem } from './native-system.ts'
import { probeNixSettings } from './nix-settings.ts'

/** What this host can build: Nix system types (native first) and supported features. */
export interface BuildConfig {
  systems: string[]
  supportedFeatures: string[]
}

/**
 * With Nix: its `system` and `extra-platforms`, and `system-features`. Without: the machine's
 * own system and no features (Guix has no such setting). Systems emulated by binfmt_misc are
 * added only without Nix: Nix refuses to build a system missing from `extra-platforms` even
 * when the kernel could run it, so advertising it would make masters send builds that fail.
 */
export async function probeBuildConfig (deps: ProbeDeps): Promise<BuildConfig> {
  const nix = await probeNixSettings(deps)
  const emulated = await probeBinfmtSystems(deps)
  if (nix === null) {
    return { systems: unique([nativeSystem(deps.arch, deps.platform), ...emulated]), supportedFeatures: [] }
  }
  const systems = unique([nix.system, ...nix.extraPlatforms])
  for (const system of emulated.filter((emulatedSystem) => !systems.includes(emulatedSystem))) {
    deps.log.warn({ system }, `binfmt_misc can run ${system} but Nix does not list it: add \`extra-platforms = ${system}\` to nix.conf to build it here`)
  }
  return { systems, supportedFeatures: unique(nix.systemFeatures) }
}

function unique (words: string[]): string[] {
  return [...new Set(words)]
}
