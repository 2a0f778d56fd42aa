import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { meshKeyFingerprint, readMeshKey } from '../../../../common/mesh-key.ts'

const root = join(import.meta.dirname, '..', '..', '..', '..')

/** Runs the real `mesh` as a user would, with the Node the project pins, in `cwd`. */
async function meshIn (cwd: string, ...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(join(root, 'node_modules', '.bin', 'node'), [join(root, 'cli', 'mesh.ts'), ...args], { cwd }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr })
    })
  })
}

describe('mesh key', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-key-cli-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const mesh = async (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await meshIn(dir, ...args)

  it('generate FILE writes a 0600 key and prints one line with its fingerprint', async () => {
    const path = join(dir, 'etc', 'mesh.key')
    const { code, stdout, stderr } = await mesh('key', 'generate', path)
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    const fingerprint = meshKeyFingerprint(await readMeshKey(path))
    expect(stdout).toBe(`wrote mesh key to ${path} (fingerprint ${fingerprint}); copy this file to every host, mode 0600\n`)
    expect(stdout).not.toContain((await readFile(path, 'utf8')).split('\n')[2])
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(join(dir, 'etc'))).toEqual(['mesh.key'])
  })

  it('keeps an existing key unless --force', async () => {
    const path = join(dir, 'mesh.key')
    expect((await mesh('key', 'generate', path)).code).toBe(0)
    const before = await readFile(path)
    const refused = await mesh('key', 'generate', path)
    expect(refused.code).toBe(2)
    expect(refused.stdout).toBe('')
    expect(refused.stderr).toMatch(/^mesh key: .*already exists.*--force[^\n]*\n$/)
    expect(await readFile(path)).toEqual(before)
    const forced = await mesh('key', 'generate', path, '--force')
    expect(forced.code).toBe(0)
    expect(await readFile(path)).not.toEqual(before)
  })

  it('--help prints the usage on stdout', async () => {
    const { code, stdout } = await mesh('key', '--help')
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: mesh key generate [FILE] [--force]')
    expect(stdout).toContain('/etc/buildmesh/mesh.key')
  })

  it.each([
    [['key', 'generate', '--bogus']],
    [['key', 'rotate']],
    [['key']],
    [['key', 'generate', 'a', 'b']]
  ])('%j is a usage error: exit 2, one line on stderr, no file', async (args) => {
    const { code, stdout, stderr } = await mesh(...args)
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr).toMatch(/^mesh key: [^\n]+\n$/)
    expect(await readdir(dir)).toEqual([])
  })
})
