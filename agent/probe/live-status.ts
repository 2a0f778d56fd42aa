import type { LiveStatus } from '../live-status.ts'
import type { ProbeDeps } from './deps.ts'

// Nix's store first: a host with both serves Nix from /nix/store, and Guix from /gnu/store
// usually lives on the same filesystem. The root stands in before either store exists.
export const STORE_PATHS = ['/nix/store', '/gnu/store']

/** The path whose filesystem holds the store, to measure free disk on. */
export async function chooseStorePath (deps: Pick<ProbeDeps, 'exists'>): Promise<string> {
  for (const path of STORE_PATHS) {
    if (await deps.exists(path)) return path
  }
  return '/'
}

/** The 1-minute load average per core, from 0 to 1. */
export function loadPerCore (deps: Pick<ProbeDeps, 'loadavg'>, cores: number): number {
  const perCore = (deps.loadavg()[0] ?? 0) / Math.max(1, cores)
  return Math.round(Math.min(1, Math.max(0, perCore)) * 100) / 100
}

/**
 * Load and free disk now. Cheap enough to call every second: one statfs, no process spawned.
 * A failed statfs reports 0 free bytes, so masters stop sending work to a store they cannot see.
 */
export async function probeLiveStatus (
  deps: Pick<ProbeDeps, 'loadavg' | 'statfs' | 'log'>,
  host: { cores: number, storePath: string }
): Promise<LiveStatus> {
  const load = loadPerCore(deps, host.cores)
  let freeDiskBytes = 0
  try {
    const stats = await deps.statfs(host.storePath)
    freeDiskBytes = stats.bavail * stats.bsize
  } catch (err) {
    deps.log.warn({ path: host.storePath, err }, 'cannot measure free disk space')
  }
  return { load, freeDiskBytes }
}
