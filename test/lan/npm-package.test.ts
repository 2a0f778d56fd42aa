import { execFile } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
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

  it('installs with deploy/install.sh --master --build-hook as a service, and again as an upgrade, on a system of its own', async () => {
    // Overlays over /etc, /usr/local and /var/lib keep the machine as it was; systemd does not
    // run here, so systemctl only records what install.sh asked of it.
    const sandbox = join(dir!, 'sandbox')
    const install = `[ -f /etc/nix/nix.conf ] || { mkdir -p /etc/nix; : >/etc/nix/nix.conf; }
      for i in 1 2; do ${join(ROOT, 'deploy/install.sh')} --master --build-hook --node '${process.execPath}' '${tarball}'; done
      su -s /bin/sh -c '/usr/local/bin/mesh --help' buildmesh | head -n 1`
    const { stdout } = await run(join(ROOT, 'test/lan/support/install-sandbox.sh'), [sandbox, 'bash', '-euo', 'pipefail', '-c', install], {
      cwd: dir,
      // As the other install here: no native builds, packages from npm's cache where it has them.
      env: { ...process.env, npm_config_ignore_scripts: 'true', npm_config_prefer_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
      maxBuffer: 16 * 1024 * 1024
    })
    const upper = (path: string): string => join(sandbox, 'upper', path)
    expect(stdout).toContain('Next: copy the mesh key of your mesh to /etc/buildmesh/mesh.key (mode 0600)')
    // The installed command runs, with the Node it was given, as the build user the unit runs as.
    expect(stdout).toMatch(/\nUsage: mesh COMMAND \[options\]\n$/)
    expect(await readFile(upper('etc/buildmesh/agent.json'), 'utf8')).toBe('{ "master": true }\n')
    expect(await readFile(upper('etc/systemd/system/buildmesh.service'), 'utf8')).toMatch(/^ExecStart=\/usr\/local\/bin\/mesh agent --config \/etc\/buildmesh\/agent\.json /m)
    expect(await readFile(upper('etc/ssh/sshd_config.d/buildmesh.conf'), 'utf8')).toMatch(/^Match User buildmesh\n {2}AuthorizedKeysFile \/var\/lib\/buildmesh\/authorized_keys\n/)
    // Twice installed, each line once: the second run is an upgrade that keeps the configuration.
    const nixConf = (await readFile(upper('etc/nix/nix.conf'), 'utf8')).split('\n')
    for (const line of ['extra-trusted-users = buildmesh', 'builders = @/var/lib/buildmesh/nix-machines', 'build-hook = /usr/local/libexec/buildmesh/build-hook']) {
      expect(nixConf.filter((l) => l === line)).toEqual([line])
    }
    expect((await stat(upper('usr-local/libexec/buildmesh/build-hook'))).mode & 0o777).toBe(0o755)
    expect(await readFile(upper('etc/passwd'), 'utf8')).toMatch(/^buildmesh:x:\d+:\d+:buildmesh agent and remote builds:\/var\/lib\/buildmesh:\/bin\/sh$/m)
    expect((await readFile(join(sandbox, 'systemctl.log'), 'utf8')).split('\n').filter((l) => l !== '')).toEqual(Array(2).fill([
      'daemon-reload', 'reload ssh.service', 'try-restart nix-daemon.service', 'enable buildmesh.service'
    ]).flat())
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
