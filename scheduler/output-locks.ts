import { readFile, stat } from 'node:fs/promises'

/**
 * Whether a local build is still going, for one that failed: Nix locks each output path's
 * `PATH.lock` (flock) before it asks its hook about the build, and holds the locks until the
 * build ends. A success deletes them once the outputs are valid; a failure leaves the files,
 * unlocked. So a build whose outputs are not valid and none of whose locks is held has ended.
 */

export interface OutputLocksDeps {
  /** The kernel's table of file locks. */
  readLocks?: () => Promise<string>
  /** A file's inode number, or null when it does not exist. */
  inodeOf?: (path: string) => Promise<number | null>
}

/** Whether any of these output paths' locks is held; null when the kernel's lock table cannot be read. */
export type OutputsLocked = (outputs: string[]) => Promise<boolean | null>

const readProcLocks = async (): Promise<string> => await readFile('/proc/locks', 'utf8')

async function inode (path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

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
  return async (outputs) => {
    const files = (await Promise.all(outputs.map(async (o) => await inodeOf(`${o}.lock`).catch(() => undefined))))
    // A lock file that cannot be looked at may be held.
    if (files.includes(undefined)) return true
    const present = files.filter((f) => f !== null && f !== undefined)
    if (present.length === 0) return false
    let table: string
    try {
      table = await readLocks()
    } catch {
      return null
    }
    const held = lockedInodes(table)
    return present.some((f) => held.has(f))
  }
}
