import type { Advertisement } from '../../wire/advertisement.ts'
import { probeBuildConfig, type BuildConfig } from './build-config.ts'
import type { ProbeDeps } from './deps.ts'
import { probeHostKey } from './host-key.ts'
import { toDnsLabel } from './host-name.ts'
import { chooseStorePath, probeLiveStatus } from './live-status.ts'
import { probeSshPort } from './ssh-port.ts'

/** Everything a builder advertises, plus what the agent needs to refresh the live part. */
export interface HostFacts extends Omit<Advertisement, 'peerId' | 'p2pPort'> {
  cores: number
  /** The path free disk is measured on: /nix/store, /gnu/store or /. */
  storePath: string
}

/** Values the user gave instead of probing them; each one skips its probe. */
export interface ProbeOverrides {
  name?: string
  systems?: string[]
  features?: string[]
  mandatoryFeatures?: string[]
  slots?: number
  speed?: number
  sshUser?: string
  sshPort?: number
  /** An OpenSSH public key file; unlike the probed defaults, it must be readable. */
  sshHostKeyFile?: string
}

/**
 * Probes this host once, at agent start. Failed probes warn and fall back, so this only rejects
 * with `SshHostKeyError` for an unusable `sshHostKeyFile`.
 */
export async function probeHost (deps: ProbeDeps, overrides: ProbeOverrides = {}): Promise<HostFacts> {
  const cores = Math.max(1, deps.cores())
  const storePath = await chooseStorePath(deps)
  const needsBuildConfig = overrides.systems === undefined || overrides.features === undefined
  const probed: BuildConfig | undefined = needsBuildConfig ? await probeBuildConfig(deps) : undefined
  const [hostKey, sshPort, live] = await Promise.all([
    probeHostKey(deps, overrides.sshHostKeyFile),
    overrides.sshPort ?? probeSshPort(deps),
    probeLiveStatus(deps, { cores, storePath })
  ])
  return {
    name: overrides.name ?? toDnsLabel(deps.hostname()),
    systems: overrides.systems ?? probed?.systems ?? [],
    supportedFeatures: overrides.features ?? probed?.supportedFeatures ?? [],
    mandatoryFeatures: overrides.mandatoryFeatures ?? [],
    slots: overrides.slots ?? cores,
    speed: overrides.speed ?? deps.cpuSpeed(),
    load: live.load,
    freeDiskBytes: live.freeDiskBytes,
    sshUser: overrides.sshUser ?? userName(deps),
    sshPort,
    hostKey,
    cores,
    storePath
  }
}

function userName (deps: Pick<ProbeDeps, 'userName' | 'log'>): string {
  try {
    return deps.userName()
  } catch (err) {
    // A uid with no passwd entry, as in some containers: the build user must then be named.
    deps.log.warn({ err }, 'cannot tell which user runs the agent; advertising root (use --ssh-user)')
    return 'root'
  }
}
