import { open } from 'node:fs/promises'
import { isDrvPath } from '../../scheduler/derivation.ts'
import { MAX_ROOTS_PER_CHUNK, type RunRootsChunk } from '../../scheduler/run-derivations.ts'

/** Bytes of the roots file one request carries at most, leaving room in the agent's 256 KiB for the rest. */
const MAX_CHUNK_BYTES = 96 * 1024

/** Bytes from `from` on, up to `maxBytes`, of a file, with its size and identity; undefined if it cannot be read. */
export type ReadRoots = (from: number, maxBytes: number) => Promise<{ file: string, size: number, bytes: Buffer } | undefined>

/** Reads Nix's temporary roots file of the run: `STATE-DIR/temproots/<pid>`, readable by the user Nix builds as. */
export const rootsFile = (path: string): ReadRoots => async (from, maxBytes) => {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return undefined
  try {
    const st = await handle.stat()
    const length = Math.max(0, Math.min(maxBytes, st.size - from))
    const bytes = Buffer.alloc(length)
    const { bytesRead } = length === 0 ? { bytesRead: 0 } : await handle.read(bytes, 0, length, from)
    return { file: `${st.dev}:${st.ino}`, size: st.size, bytes: bytes.subarray(0, bytesRead) }
  } finally {
    await handle.close()
  }
}

/**
 * What the agent lacks of the run's derivations, a piece per request. Nix lists each derivation
 * of the run in its temporary roots before it builds any, and only appends; the agent says how
 * many bytes of the file it holds, and the next request carries the next piece. A new hook
 * knows nothing of that yet: its first request only tells the file's size.
 */
export class RunRoots {
  private readonly read: ReadRoots
  private held: number | undefined
  private unreadable = false

  constructor (read: ReadRoots) {
    this.read = read
  }

  async next (): Promise<RunRootsChunk | undefined> {
    if (this.unreadable) return undefined
    const from = this.held ?? 0
    const got = await this.read(from, this.held === undefined ? 0 : MAX_CHUNK_BYTES)
    if (got === undefined) {
      this.unreadable = true
      return undefined
    }
    if (this.held === undefined || got.size <= from) return { file: got.file, size: got.size, from: got.size, to: got.size, paths: [] }
    const paths: string[] = []
    let to = from
    // Whole entries only, each ending in a NUL; a root that is not a derivation is passed over.
    for (let start = 0, end = got.bytes.indexOf(0); end >= 0 && paths.length < MAX_ROOTS_PER_CHUNK; start = end + 1, end = got.bytes.indexOf(0, start)) {
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
