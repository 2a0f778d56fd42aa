import { execFile } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useLan } from './harness/index.ts'
import { makeHostKey } from './support/mesh.ts'

const ROOT = resolve(import.meta.dirname, '../..')
const run = promisify(execFile)

/**
 * The npm package as people get it: `npm pack` (which builds dist/), then `npm install -g` of
 * the tarball into a fresh prefix, dependencies from the registry. Its `mesh` runs in a LAN host,
 * far from the checkout, with the Node that runs the tests (24; libp2p needs 22 or later).
 */
describe('the npm package', () => {
  const lan = useLan({ hosts: ['a'] })
  let dir: string | undefined
  let tarball: string
  let mesh: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-npm-'))
    await run('npm', ['pack', '--pack-destination', dir], { cwd: ROOT })
    tarball = join(dir, (await readdir(dir)).find((f) => f.endsWith('.tgz')) ?? 'no tarball')
    // Without the optional native builds of ssh2 and cpu-features, as npm 11 installs globally by
    // default; compiling them would only slow the test down.
    await run('npm', ['install', '--global', '--prefix', join(dir, 'prefix'), '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir })
    mesh = join(dir, 'prefix/bin/mesh')
  })

  afterAll(async () => {
    // Unset when the LAN could not be built: nothing was made to remove.
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  it('holds the compiled command and nothing of the sources or tests', async () => {
    const files = (await run('tar', ['-tzf', tarball])).stdout.split('\n').filter((f) => f !== '')
    expect(files).toContain('package/bin/mesh.js')
    expect(files).toContain('package/dist/cli/mesh.js')
    expect(files).toContain('package/dist/package.json')
    expect(files.filter((f) => !/^package\/(?:bin\/|dist\/|package\.json$|README\.md$)/.test(f))).toEqual([])
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([])
  })

  it('runs mesh --help through its own shebang and the Node on PATH', async () => {
    const host = lan.host('a')
    const path = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`
    const { stdout } = await host.run(mesh, ['--help'], { env: { PATH: path }, cwd: dir })
    expect(stdout).toMatch(/^Usage: mesh COMMAND \[options\]/)
    expect(stdout).toMatch(/\n {2}agent {2,}run the agent/)
  })

  it('makes a mesh key and runs an agent that advertises and answers mesh peers', async () => {
    const host = lan.host('a')
    const key = join(host.dir, 'mesh.key')
    await host.run(process.execPath, [mesh, 'key', 'generate', key], { cwd: dir })
    const hostKey = await makeHostKey(host)
    const agent = host.spawn(process.execPath, [
      mesh, 'agent', '--mesh-key', key, '--state-dir', join(host.dir, 'state'), '--ssh-host-key', hostKey.file, '--log-level', 'debug'
    ], { cwd: dir, env: { BUILDMESH_SOCKET: undefined } })
    await agent.waitForOutput('"advertising"', { timeoutMs: 15_000 })
    const { stdout } = await host.run(process.execPath, [mesh, 'peers', '--json'], { cwd: dir, env: { BUILDMESH_SOCKET: undefined } })
    expect(JSON.parse(stdout)).toEqual([])
    await agent.stop()
    expect(await agent.exited).toEqual({ code: 0, signal: null })
  })
})
