import type { ProbeDeps } from './deps.ts'
import { queryNixSettings, type NixSettings } from './nix-command.ts'
import { readNixConf, type NixConfValue } from './nix-conf-file.ts'
import { nativeSystem } from './native-system.ts'

export const NIX_CONF = '/etc/nix/nix.conf'

const SETTINGS = ['system', 'extra-platforms', 'system-features'] as const

/**
 * This host's Nix settings: from the nix command, else from nix.conf read directly with the
 * defaults Nix would add, else null when Nix is not installed.
 */
export async function probeNixSettings (deps: ProbeDeps): Promise<NixSettings | null> {
  const queried = await queryNixSettings(deps)
  if (queried !== null) return queried
  const conf = await readNixConf(deps, NIX_CONF, SETTINGS)
  if (conf === null) return null
  deps.log.info({ path: NIX_CONF }, 'read Nix settings from the config file, not from the nix command')
  const native = nativeSystem(deps.arch, deps.platform)
  return {
    system: conf.get('system')?.set || native,
    extraPlatforms: resolveWords(conf.get('extra-platforms'), defaultExtraPlatforms(native)),
    systemFeatures: resolveWords(conf.get('system-features'), await defaultSystemFeatures(deps))
  }
}

function resolveWords (value: NixConfValue | undefined, defaults: string[]): string[] {
  const base = value?.set?.split(' ').filter((word) => word !== '') ?? defaults
  return [...base, ...(value?.extra ?? [])]
}

// What Nix 2.8 and current Nix compute when nix.conf is silent, less the x86_64-vN levels
// and Rosetta, which need CPU probing that the nix command does better.
function defaultExtraPlatforms (native: string): string[] {
  return native === 'x86_64-linux' ? ['i686-linux'] : []
}

async function defaultSystemFeatures (deps: Pick<ProbeDeps, 'exists' | 'platform'>): Promise<string[]> {
  const features = ['nixos-test', 'benchmark', 'big-parallel']
  if (deps.platform === 'linux' && await deps.exists('/dev/kvm')) features.push('kvm')
  return features
}
