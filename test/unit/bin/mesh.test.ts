import { execFile, spawn } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'

const mesh = join(import.meta.dirname, '..', '..', '..', 'bin', 'mesh.js')
const dirs: string[] = []

async function runMesh (cacheHome: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [mesh, 'build-hook', '--help'], { env: { ...process.env, XDG_CACHE_HOME: cacheHome, NODE_COMPILE_CACHE: undefined } })
  return stdout
}

/** The files under `dir`: Node makes its directories as the cache is enabled, and writes files later. */
async function files (dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name)
}

afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

describe('the mesh command', () => {
  it('keeps compiled code in a cache of its own, private to the user', async () => {
    const home = await mkdtemp(join(tmpdir(), 'bm-cache-'))
    dirs.push(home)
    expect(await runMesh(home)).toContain('Usage: mesh build-hook')
    const cache = join(home, 'buildmesh', 'node-compile-cache')
    expect((await stat(cache)).mode & 0o777).toBe(0o700)
    expect((await files(cache)).length).toBeGreaterThan(0)
  })

  it('has the cache written while a build hook still runs: Nix ends its hook with a SIGKILL', async () => {
    const home = await mkdtemp(join(tmpdir(), 'bm-cache-'))
    dirs.push(home)
    const cache = join(home, 'buildmesh', 'node-compile-cache')
    // Waiting for Nix's settings on stdin, as Nix's hook does until Nix writes.
    const hook = spawn(process.execPath, [mesh, 'build-hook'], { stdio: ['pipe', 'ignore', 'ignore'], env: { ...process.env, XDG_CACHE_HOME: home, NODE_COMPILE_CACHE: undefined } })
    try {
      let written: string[] = []
      for (let i = 0; i < 60 && written.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        written = await files(cache).catch(() => [])
      }
      expect(written.length).toBeGreaterThan(0)
    } finally {
      hook.kill('SIGKILL')
    }
  })

  it('runs without a cache where others could write one', async () => {
    const home = await mkdtemp(join(tmpdir(), 'bm-cache-'))
    dirs.push(home)
    const cache = join(home, 'buildmesh', 'node-compile-cache')
    await mkdir(cache, { recursive: true })
    await chmod(cache, 0o777)
    expect(await runMesh(home)).toContain('Usage: mesh build-hook')
    expect(await files(cache)).toEqual([])
  })
})
