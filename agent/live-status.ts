/** The parts of an advertisement that change while the agent runs. */
export interface LiveStatus {
  load: number
  freeDiskBytes: number
}

export interface ChangeThresholds {
  /** Load (0..1) must move this far from what was last announced. */
  loadDelta: number
  /** Free disk must move by this fraction of what was last announced... */
  diskFraction: number
  /** ...and by at least this many bytes. */
  diskMinBytes: number
  /** Crossing this free-disk level is always material: it decides eligibility. */
  diskFloorBytes: number
}

export const defaultChangeThresholds: ChangeThresholds = {
  loadDelta: 0.1,
  diskFraction: 0.05,
  diskMinBytes: 256 * 1024 * 1024,
  diskFloorBytes: 100 * 1024 * 1024
}

/**
 * Whether a sample differs enough from what the LAN last heard to announce it again.
 * Comparing against the announced value, not the previous sample, is the hysteresis: a load
 * that wobbles inside the band around the announced value never causes an announcement.
 */
export function isMaterialChange (announced: LiveStatus, sampled: LiveStatus, t: ChangeThresholds = defaultChangeThresholds): boolean {
  // Loads are two-decimal values: compare in hundredths so 0.5 - 0.4 counts as a full 0.1.
  if (Math.round(Math.abs(sampled.load - announced.load) * 100) >= Math.round(t.loadDelta * 100)) return true
  const below = (bytes: number): boolean => bytes < t.diskFloorBytes
  if (below(announced.freeDiskBytes) !== below(sampled.freeDiskBytes)) return true
  const diskMove = Math.abs(sampled.freeDiskBytes - announced.freeDiskBytes)
  return diskMove >= t.diskMinBytes && diskMove >= announced.freeDiskBytes * t.diskFraction
}
