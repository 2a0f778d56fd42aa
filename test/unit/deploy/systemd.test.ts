import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentOptions } from '../../../cli/commands/agent.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const UNIT = join(ROOT, 'deploy/systemd/buildmesh.service')
const INSTALL = join(ROOT, 'deploy/install.sh')
const run = promisify(execFile)

describe('the systemd unit', () => {
  let dir: string
  let unit: string
  let text: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-unit-'))
    text = await readFile(UNIT, 'utf8')
    // systemd-analyze checks that ExecStart is executable: the unit as install.sh writes it for
    // a prefix, here one holding a stand-in `mesh`.
    await writeFile(join(dir, 'mesh'), '#!/bin/sh\n')
    await chmod(join(dir, 'mesh'), 0o755)
    unit = join(dir, 'buildmesh.service')
    await writeFile(unit, text.replaceAll('/usr/local/bin/mesh', join(dir, 'mesh')))
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('passes systemd-analyze verify without a warning', async () => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', unit])
    expect(stdout + stderr).toBe('')
  })

  it('is as confined as the agent allows', async () => {
    // Exposure 2.0 on systemd's 0-10 scale; what is left is the network the agent serves on.
    await expect(run('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit])).resolves.toBeDefined()
  })

  it('runs mesh agent with its state and socket where root\'s mesh commands look', () => {
    const execStart = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? ''
    expect(execStart).toBe('/usr/local/bin/mesh agent --config /etc/buildmesh/agent.json --mesh-key %d/mesh.key ' +
      '--state-dir /var/lib/buildmesh --socket /run/buildmesh/agent.sock')
    const known = new Set(agentOptions.map((o) => `--${o.flag}`))
    expect(execStart.split(' ').filter((w) => w.startsWith('--') && !known.has(w))).toEqual([])
    expect(text).toMatch(/^User=buildmesh$/m)
    expect(text).toMatch(/^LoadCredential=mesh\.key:\/etc\/buildmesh\/mesh\.key$/m)
    expect(text).toMatch(/^CapabilityBoundingSet=$/m)
  })
})

describe('install.sh', () => {
  it('is valid bash', async () => {
    await expect(run('bash', ['-n', INSTALL])).resolves.toBeDefined()
  })

  it('explains itself', async () => {
    const { stdout } = await run(INSTALL, ['--help'])
    expect(stdout).toMatch(/^Usage: deploy\/install\.sh \[--master \[--build-hook\]\] \[--prefix DIR\] \[--node PATH\] \[TARBALL\]/)
  })

  it('refuses an unknown option, and a build hook without --master, as usage errors', async () => {
    await expect(run(INSTALL, ['--nope'])).rejects.toMatchObject({ code: 2 })
    await expect(run(INSTALL, ['--build-hook'])).rejects.toMatchObject({ code: 2, stderr: 'install.sh: --build-hook needs --master: only a master picks builders\n' })
  })
})
