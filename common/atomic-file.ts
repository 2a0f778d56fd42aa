import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { BuildmeshError } from './errors.ts'

export interface WriteFileAtomicOptions {
  /** Mode of the file, whatever the umask; the file never has a wider one, even briefly. */
  mode?: number
  /**
   * Never replace an existing file (keys: a second writer must not swap the key under the
   * first). Publishing by link(2) makes the check and the write one step.
   */
  exclusive?: boolean
}

/**
 * Replaces `path` so that a reader (Nix's build hook, `guix offload`) sees either the old file
 * or the new one, never a partial one, even across a crash. Returns false, touching nothing,
 * when the file already holds `content`: an unchanged list keeps its inode and mtime.
 * With `exclusive`, an existing file is never touched and is `ERR_EXISTS`, even with the same
 * content. Throws BuildmeshError `ERR_WRITE` otherwise; no temporary file is left behind.
 */
export async function writeFileAtomic (path: string, content: string | Uint8Array, { mode = 0o644, exclusive = false }: WriteFileAtomicOptions = {}): Promise<boolean> {
  const bytes = Buffer.from(content)
  const dir = dirname(path)
  let temp: string | undefined
  try {
    if (!exclusive && await sameContent(path, bytes)) return false
    await mkdir(dir, { recursive: true, mode: 0o755 })
    temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
    const file = await open(temp, 'wx', mode)
    try {
      await file.chmod(mode)
      await file.writeFile(bytes)
      await file.sync()
    } finally {
      await file.close()
    }
    if (exclusive) {
      await link(temp, path)
      await rm(temp)
    } else {
      await rename(temp, path)
    }
    temp = undefined
    await syncDirectory(dir)
    return true
  } catch (err) {
    // A failed cleanup must not hide why the write failed.
    if (temp !== undefined) await rm(temp, { force: true }).catch(() => undefined)
    if (exclusive && (err as NodeJS.ErrnoException).code === 'EEXIST') throw new BuildmeshError('ERR_EXISTS', `${path} already exists`, 1, { cause: err })
    throw new BuildmeshError('ERR_WRITE', `cannot write ${path}: ${(err as Error).message}`, 1, { cause: err })
  }
}

async function sameContent (path: string, bytes: Buffer): Promise<boolean> {
  try {
    return bytes.equals(await readFile(path))
  } catch (err) {
    // A directory in the way is not "the same content": the rename below then fails and says so.
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EISDIR') return false
    throw err
  }
}

/** Makes the rename itself durable. */
async function syncDirectory (dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
