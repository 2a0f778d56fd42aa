import { readFileSync, statSync } from 'node:fs'

/**
 * Whether a local build is still going, for one that failed: Nix locks each output path's
 * `PATH.lock` (flock) before it asks its hook about the build, and holds the locks until the
 * build ends. A success deletes them once the outputs are valid; a failure leaves the files,
 * unlocked. So a build whose outputs are not valid and none of whose locks is held has ended.
 */

export interface OutputLocksDeps {
  /** The kernel's table of file locks. */
  readLocks?: () => string
  /** A file's inode number, or null when it does not exist. */
  inodeOf?: (path: string) => number | null
}

/**
 * For each build's output paths, whether any of their locks is held; null when the kernel's lock
 * table cannot be read. The table is read once for all of them.
 */
export type OutputsLocked = (builds: string[][]) => Promise<Array<boolean | null>>

// Read at every answer to Nix while a local build runs. Sync: a procfs read and a stat take
// microseconds, and their async forms cost Nix 0.1 ms more an answer in thread hops.
const readProcLocks = (): string => readFileSync('/proc/locks', 'utf8')
const inode = (path: string): number | null => statSync(path, { throwIfNoEntry: false })?.ino ?? null

/**
 * The inodes /proc/locks shows locked ("1: FLOCK  ADVISORY  WRITE 11537 fe:00:2146834 0 EOF";
 * a waiter's line has "->" after the number). Matched on the inode alone: through an overlay or
 * a bind mount the device a lock shows may not be the one stat gives, and a false match only
 * keeps a build counted, as it was before it could be seen to end.
 */
export function lockedInodes (table: string): Set<number> {
  const inodes = new Set<number>()
  for (const line of table.split('\n')) {
    const id = /\s[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line)?.[1]
    if (id !== undefined && !/^\d+:\s+->/.test(line)) inodes.add(Number(id))
  }
  return inodes
}

export function outputLocks (deps: OutputLocksDeps = {}): OutputsLocked {
  const readLocks = deps.readLocks ?? readProcLocks
  const inodeOf = deps.inodeOf ?? inode
  return async (builds) => {
    let held: Set<number> | null | undefined
    const table = (): Set<number> | null => {
      if (held === undefined) {
        try {
          held = lockedInodes(readLocks())
        } catch {
          held = null
        }
      }
      return held
    }
    return builds.map((outputs) => anyLocked(outputs, inodeOf, table))
  }
}

function anyLocked (outputs: string[], inodeOf: (path: string) => number | null, table: () => Set<number> | null): boolean | null {
  const present: number[] = []
  for (const output of outputs) {
    let file: number | null
    try {
      file = inodeOf(`${output}.lock`)
    } catch {
      // A lock file that cannot be looked at may be held.
      return true
    }
    if (file !== null) present.push(file)
  }
  if (present.length === 0) return false
  const held = table()
  return held === null ? null : present.some((f) => held.has(f))
}
