import { chown, mkdir, open } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { writeFileAtomic } from '../common/atomic-file.ts'
import { BuildmeshError, UsageError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'
import { describeValue, validateHostKey, validatePeerId } from '../wire/fields.ts'

/**
 * What sshd runs for a master's key whatever command the client asks for: the store protocol
 * that Nix's `ssh-ng://` speaks. The client's own command is only in SSH_ORIGINAL_COMMAND.
 */
export const NIX_FORCED_COMMAND = 'nix-daemon --stdio'
/** `restrict` turns off forwarding, pty and ~/.ssh/rc, and stays strict as OpenSSH adds features. */
export const DEFAULT_KEY_OPTIONS = `restrict,command="${NIX_FORCED_COMMAND}"`
/** The comment that marks a line as ours, followed by the master's libp2p peer id. */
const KEY_MARKER = 'buildmesh:'

// The marker and a peer id as wire/fields.ts validatePeerId accepts it (base58btc).
const MARKED = /^buildmesh:([1-9A-HJ-NP-Za-km-z]{40,64})$/
// sshd's option list: `name` or `name="value"`, comma-separated, no unquoted whitespace.
const OPTION = /[A-Za-z-]+(?:="(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*")?/
const OPTIONS = new RegExp(`^(?:${OPTION.source}(?:,${OPTION.source})*)?$`)

/** The authorized_keys file cannot be read, or holds what we must not rewrite. */
export class AuthorizedKeysError extends BuildmeshError {
  readonly path: string

  constructor (path: string, reason: string, cause?: unknown) {
    super('ERR_AUTHORIZED_KEYS', `${path}: ${reason}`, 1, { cause })
    this.path = path
  }
}

export interface AuthorizedKeysFileInit {
  path: string
  log: Logger
  /** sshd options put before each master's key; '' for none. */
  options?: string
}

/** Chains the tasks on one file so that no read-modify-write works from a stale read. */
const queues = new Map<string, Promise<unknown>>()

async function serialised<T> (key: string, task: () => Promise<T>): Promise<T> {
  const run = (queues.get(key) ?? Promise.resolve()).then(task)
  const tail = run.catch(() => undefined)
  queues.set(key, tail)
  try {
    return await run
  } finally {
    if (queues.get(key) === tail) queues.delete(key)
  }
}

/** Lines with their own terminators (`\n`, `\r\n` or none at the end), so joining them gives back the file. */
function splitLines (text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? []
}

function terminator (line: string): string {
  return /\r?\n$/.exec(line)?.[0] ?? ''
}

/** The master a line was written for, or null for any line that is not ours (a commented-out one included). */
function markerOf (line: string): string | null {
  const text = line.trim()
  if (text.startsWith('#')) return null
  const last = text.slice(text.search(/\S+$/))
  return MARKED.exec(last)?.[1] ?? null
}

/**
 * The authorized_keys file that sshd reads for the build user, holding one line per master
 * (`OPTIONS KEY buildmesh:PEERID`). Every other line stays exactly as it was, in place. Changes
 * are atomic renames, keep the file's mode and (when run as root) its owner, and are serialised
 * per path within the process; lines others add between our writes survive them.
 */
export class AuthorizedKeysFile {
  readonly path: string
  private readonly log: Logger
  private readonly options: string

  constructor ({ path, log, options = DEFAULT_KEY_OPTIONS }: AuthorizedKeysFileInit) {
    if (!OPTIONS.test(options)) {
      throw new UsageError(`authorized_keys options ${describeValue(options)} are not an sshd option list like ${DEFAULT_KEY_OPTIONS}`, 'ERR_AUTHORIZED_KEYS_OPTIONS')
    }
    this.path = path
    this.log = log
    this.options = options
  }

  /** Adds the master's key, or replaces the one it had; resolves whether the file changed. */
  async authorize (masterId: string, publicKey: string): Promise<boolean> {
    const id = validatePeerId(masterId, 'masterId')
    const key = validateHostKey(publicKey, 'publicKey')
    const line = `${this.options === '' ? '' : `${this.options} `}${key} ${KEY_MARKER}${id}`
    const changed = await this.update((lines) => {
      const at = lines.findIndex((l) => markerOf(l) === id)
      if (at === -1) {
        const lastIndex = lines.length - 1
        const last = lines[lastIndex]
        if (last !== undefined && terminator(last) === '') lines[lastIndex] = `${last}\n`
        return [...lines, `${line}\n`]
      }
      const replaced = lines.map((l, i) => i === at ? `${line}${terminator(l)}` : l)
      return replaced.filter((l, i) => i <= at || markerOf(l) !== id)
    })
    if (changed) this.log.info({ master: id, path: this.path }, 'authorized master key')
    return changed
  }

  /** Removes every line for the master; resolves whether there was one. */
  async revoke (masterId: string): Promise<boolean> {
    const id = validatePeerId(masterId, 'masterId')
    const changed = await this.update((lines) => lines.filter((l) => markerOf(l) !== id))
    if (changed) this.log.info({ master: id, path: this.path }, 'revoked master key')
    return changed
  }

  async revokeAll (): Promise<void> {
    const changed = await this.update((lines) => lines.filter((l) => markerOf(l) === null))
    if (changed) this.log.info({ path: this.path }, 'revoked all master keys')
  }

  /** Peer ids of the masters with a line, in file order. */
  async managed (): Promise<string[]> {
    return await serialised(resolve(this.path), async () => {
      const ids = splitLines((await this.read())?.text ?? '').map(markerOf)
      return [...new Set(ids.filter((id) => id !== null))]
    })
  }

  private async update (edit: (lines: string[]) => string[]): Promise<boolean> {
    return await serialised(resolve(this.path), async () => {
      const current = await this.read()
      const before = current?.text ?? ''
      const after = edit(splitLines(before)).join('')
      if (after === before) return false
      await this.write(after, current?.stats)
      return true
    })
  }

  private async read (): Promise<{ text: string, stats: Stats } | null> {
    let bytes: Buffer
    let stats: Stats
    try {
      // One descriptor for both, so the mode kept is that of the content read.
      const handle = await open(this.path, 'r')
      try {
        stats = await handle.stat()
        bytes = await handle.readFile()
      } finally {
        await handle.close()
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw new AuthorizedKeysError(this.path, `cannot read: ${(err as Error).message}`, err)
    }
    // Rewriting a string decoded from other bytes would change lines that are not ours.
    try {
      return { text: new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes), stats }
    } catch (err) {
      throw new AuthorizedKeysError(this.path, 'is not UTF-8 text; refusing to rewrite it', err)
    }
  }

  private async write (text: string, previous: Stats | undefined): Promise<void> {
    if (previous === undefined) {
      try {
        // sshd's StrictModes refuses keys under a directory others can write to.
        await mkdir(dirname(this.path), { recursive: true, mode: 0o700 })
      } catch (err) {
        throw new AuthorizedKeysError(this.path, `cannot create its directory: ${(err as Error).message}`, err)
      }
    }
    await writeFileAtomic(this.path, text, { mode: previous === undefined ? 0o600 : previous.mode & 0o777 })
    // sshd opens the file as the user it logs in: a root agent must hand a user's file back to them.
    if (previous !== undefined && process.getuid?.() === 0 && (previous.uid !== 0 || previous.gid !== 0)) {
      try {
        await chown(this.path, previous.uid, previous.gid)
      } catch (err) {
        throw new AuthorizedKeysError(this.path, `cannot restore its owner ${previous.uid}:${previous.gid}: ${(err as Error).message}`, err)
      }
    }
  }
}
