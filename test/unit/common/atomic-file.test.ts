import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { writeFileAtomic } from '../../../common/atomic-file.ts'
import { BuildmeshError } from '../../../common/errors.ts'

describe('writeFileAtomic', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-atomic-'))
  })
  afterEach(async () => {
    await chmod(dir, 0o755)
    await rm(dir, { recursive: true, force: true })
  })

  async function expectWriteError (promise: Promise<boolean>, path: string): Promise<BuildmeshError> {
    const err: unknown = await promise.then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(BuildmeshError)
    expect((err as BuildmeshError).code).toBe('ERR_WRITE')
    expect((err as Error).message).toContain(`cannot write ${path}: `)
    return err as BuildmeshError
  }

  it('writes the content with mode 0644 by default, whatever the umask', async () => {
    const path = join(dir, 'machines')
    const umask = process.umask(0o077)
    try {
      expect(await writeFileAtomic(path, 'a line\n')).toBe(true)
    } finally {
      process.umask(umask)
    }
    expect(await readFile(path, 'utf8')).toBe('a line\n')
    expect((await stat(path)).mode & 0o777).toBe(0o644)
    expect(await readdir(dir)).toEqual(['machines'])
  })

  it('honours the mode option', async () => {
    const path = join(dir, 'secret')
    await writeFileAtomic(path, 'x', { mode: 0o600 })
    expect((await stat(path)).mode & 0o777).toBe(0o600)
  })

  it('writes bytes as given', async () => {
    const path = join(dir, 'key')
    const bytes = new Uint8Array([0, 255, 10, 128])
    expect(await writeFileAtomic(path, bytes, { mode: 0o600 })).toBe(true)
    expect(new Uint8Array(await readFile(path))).toEqual(bytes)
    expect(await writeFileAtomic(path, bytes, { mode: 0o600 })).toBe(false)
  })

  it('with exclusive, creates a new file but never replaces one, even with the same content', async () => {
    const path = join(dir, 'key')
    expect(await writeFileAtomic(path, 'first', { mode: 0o600, exclusive: true })).toBe(true)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    for (const content of ['second', 'first']) {
      const err: unknown = await writeFileAtomic(path, content, { exclusive: true }).then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(BuildmeshError)
      expect((err as BuildmeshError).code).toBe('ERR_EXISTS')
    }
    expect(await readFile(path, 'utf8')).toBe('first')
    expect(await readdir(dir)).toEqual(['key'])
  })

  it('replaces changed content with a new inode, leaving no temp file', async () => {
    const path = join(dir, 'machines')
    await writeFileAtomic(path, 'old\n')
    const before = await stat(path)
    expect(await writeFileAtomic(path, 'new\n')).toBe(true)
    expect(await readFile(path, 'utf8')).toBe('new\n')
    expect((await stat(path)).ino).not.toBe(before.ino)
    expect(await readdir(dir)).toEqual(['machines'])
  })

  it('returns false and leaves an unchanged file alone: same inode, same mtime', async () => {
    const path = join(dir, 'machines')
    await writeFileAtomic(path, 'same\n')
    const past = new Date(Date.now() - 60_000)
    await utimes(path, past, past)
    const before = await stat(path)
    expect(await writeFileAtomic(path, 'same\n')).toBe(false)
    const after = await stat(path)
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
  })

  it('treats an empty file and empty content as unchanged, and a missing file as changed', async () => {
    const path = join(dir, 'machines')
    expect(await writeFileAtomic(path, '')).toBe(true)
    expect(await writeFileAtomic(path, '')).toBe(false)
  })

  it('creates missing parent directories with mode 0755', async () => {
    const path = join(dir, 'a', 'b', 'machines.scm')
    const umask = process.umask(0o022)
    try {
      expect(await writeFileAtomic(path, '(list)\n')).toBe(true)
    } finally {
      process.umask(umask)
    }
    expect(await readFile(path, 'utf8')).toBe('(list)\n')
    expect((await stat(join(dir, 'a', 'b'))).mode & 0o777).toBe(0o755)
  })

  it('fails with ERR_WRITE when the target is a directory, removing its temp file', async () => {
    const path = join(dir, 'machines')
    await mkdir(path)
    await writeFile(join(path, 'inside'), 'x')
    // The temp file is written before the rename fails on the directory.
    expect((await expectWriteError(writeFileAtomic(path, 'x\n'), path)).message).toMatch(/rename '.*\.tmp'/)
    expect(await readdir(dir)).toEqual(['machines'])
    expect(await readdir(path)).toEqual(['inside'])
  })

  it('fails with ERR_WRITE when the parent is a file', async () => {
    await writeFile(join(dir, 'file'), 'x')
    const path = join(dir, 'file', 'machines')
    await expectWriteError(writeFileAtomic(path, 'x\n'), path)
    expect(await readdir(dir)).toEqual(['file'])
  })

  // Root ignores directory permissions, so this case only means something for other users.
  it('fails with ERR_WRITE where no file can be created, even as root', async () => {
    // procfs refuses new files to everyone, so this holds whoever runs the suite.
    await expectWriteError(writeFileAtomic('/proc/self/buildmesh-machines', 'new\n'), '/proc/self/buildmesh-machines')
  })
})
