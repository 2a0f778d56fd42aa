import type { ProbeDeps } from './deps.ts'

/** The Nix settings that decide what this host builds. */
export interface NixSettings {
  system: string
  extraPlatforms: string[]
  systemFeatures: string[]
}

// An agent started by systemd often lacks the Nix profile in its PATH on non-NixOS hosts.
const NIX_BINARIES = ['nix', '/nix/var/nix/profiles/default/bin/nix', '/run/current-system/sw/bin/nix']

// `config show` is the current name; Nix 2.8 only knows `show-config` (an alias since 2.20).
// Both are part of the experimental `nix-command`, which 2.8 does not enable by default.
const SHOW_CONFIG = [
  ['--extra-experimental-features', 'nix-command', 'config', 'show', '--json'],
  ['--extra-experimental-features', 'nix-command', 'show-config', '--json']
]

const TIMEOUT_MS = 15_000

/**
 * Asks the local Nix for its effective settings, which include the defaults it computes (such as
 * `kvm` when /dev/kvm is usable) and every config file it reads. Resolves null when Nix is not
 * installed, or with a warning when it fails or prints something unexpected.
 */
export async function queryNixSettings (deps: Pick<ProbeDeps, 'runCommand' | 'log'>): Promise<NixSettings | null> {
  for (const binary of NIX_BINARIES) {
    let failure: { args: string[], code: number | null, stderr: string } | undefined
    for (const args of SHOW_CONFIG) {
      const result = await deps.runCommand(binary, args, { timeoutMs: TIMEOUT_MS })
      if (result === null) break
      if (result.code !== 0) {
        failure = { args, code: result.code, stderr: result.stderr.trim() }
        continue
      }
      try {
        return parseNixConfigJson(result.stdout)
      } catch (err) {
        deps.log.warn({ binary, args, err }, 'cannot understand the output of nix show-config')
        return null
      }
    }
    if (failure !== undefined) {
      deps.log.warn({ binary, ...failure }, failure.code === null ? 'nix show-config was killed or timed out' : 'nix show-config failed')
      return null
    }
  }
  deps.log.debug('nix command not found')
  return null
}

/**
 * Reads `nix show-config --json` / `nix config show --json`: `{ name: { value, ... } }` in 2.4
 * and later (lists as arrays), plain `{ name: value }` before.
 */
export function parseNixConfigJson (text: string): NixSettings {
  const json: unknown = JSON.parse(text)
  if (!isRecord(json)) throw new Error('not a JSON object')
  const system = valueOf(json, 'system')
  if (typeof system !== 'string' || system === '') throw new Error('no `system` setting')
  return {
    system,
    extraPlatforms: wordsOf(valueOf(json, 'extra-platforms'), 'extra-platforms'),
    systemFeatures: wordsOf(valueOf(json, 'system-features'), 'system-features')
  }
}

function valueOf (json: Record<string, unknown>, name: string): unknown {
  const setting = json[name]
  return isRecord(setting) && 'value' in setting ? setting.value : setting
}

function wordsOf (value: unknown, name: string): string[] {
  if (value === undefined) return []
  if (typeof value === 'string') return value.split(/\s+/).filter((word) => word !== '')
  if (Array.isArray(value) && value.every((word) => typeof word === 'string')) return value
  throw new Error(`\`${name}\` is neither a string nor a list of strings`)
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
