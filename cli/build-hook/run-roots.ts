import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { isDrvPath } from '../../scheduler/derivation.ts'
import type { RunRootsChunk } from '../../scheduler/run-derivations.ts'
import { MAX_ROOTS_PER_PIECE, MAX_ROOTS_PIECE_BYTES } from '../../wire/control.ts'

/** Bytes from `from` on, up to `maxBytes`, of a file, with its size and identity; undefined if it cannot be read. */
export type ReadRoots = (from: number, maxBytes: number) => { file: string, size: number, bytes: Buffer } | undefined

/**
 * Reads Nix's temporary roots file of the run: `STATE-DIR/temproots/<pid>`, readable by the user
 * Nix builds as. Synchronously: Nix waits for each answer, and a few system calls through the
 * thread pool cost more than the calls themselves.
 */
export const rootsFile = (path: string): ReadRoots => (from, maxBytes) => {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return undefined
  }
  try {
    const st = fstatSync(fd)
    const bytes = Buffer.alloc(Math.max(0, Math.min(maxBytes, st.size - from)))
    const read = bytes.length === 0 ? 0 : readSync(fd, bytes, 0, bytes.length, from)
    return { file: `${st.dev}:${st.ino}`, size: st.size, bytes: bytes.subarray(0, read) }
  } finally {
    closeSync(fd)
  }
}

/**
 * What the agent lacks of the run's derivations, a piece per request. Nix lists each derivation
 * of the run in its temporary roots before it builds any, and only appends; the agent says how
 * many bytes of the file it holds, and the next request carries the next piece, or nothing
 * once it holds all. A new hook knows nothing of that yet: its first request only tells the
 * file's size.
 */
export class RunRoots {
  private readonly read: ReadRoots
  private held: number | undefined
  private unreadable = false

  constructor (read: ReadRoots) {
    this.read = read
  }

  /** The piece for the next request; undefined where the agent has the whole file, or it cannot be read. */
  next (): RunRootsChunk | undefined {
    if (this.unreadable) return undefined
    const from = this.held ?? 0
    const got = this.read(from, this.held === undefined ? 0 : MAX_ROOTS_PIECE_BYTES)
    if (got === undefined) {
      this.unreadable = true
      return undefined
    }
    if (this.held === undefined) return { file: got.file, size: got.size, from: got.size, to: got.size, paths: [] }
    if (got.size <= from) return undefined
    const paths: string[] = []
    let to = from
    // Whole entries only, each ending in a NUL; a root that is not a derivation is passed over.
    for (let start = 0, end = got.bytes.indexOf(0); end >= 0 && paths.length < MAX_ROOTS_PER_PIECE; start = end + 1, end = got.bytes.indexOf(0, start)) {
      const root = got.bytes.toString('utf8', start, end)
      if (isDrvPath(root)) paths.push(root)
      to = from + end + 1
    }
    return { file: got.file, size: got.size, from, to, paths }
  }

  /** The agent's answer: the bytes of the file it holds now. */
  heldByAgent (held: unknown): void {
    if (typeof held === 'number' && Number.isSafeInteger(held) && held >= 0) this.held = held
  }
}
