import { chmod, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { useLan } from './harness/index.ts'
import { MESH } from './support/mesh.ts'
import { nixBuild, startBuildMesh, summary, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs } from './support/offload.ts'

const SCRIPT = resolve(import.meta.dirname, '../../deploy/use-build-hook.sh')

/**
 * What `install.sh --master --build-hook` does to a master's Nix, done by its script to the master
 * host's own nix.conf, then used by the real Nix 2.8 with a builder (b1) of the mesh.
 */
describe('deploy/use-build-hook.sh', () => {
  const lan = useLan({ hosts: ['m', 'b1'] })
  let master: BuildingMaster
  let mesh: string
  let hook: string
  let conf: string

  beforeAll(async () => {
    ({ master } = await startBuildMesh(lan, [], [{ name: 'b1', speed: 1, slots: 2 }]))
    const m = lan.host('m')
    // The mesh command as install.sh writes it: a wrapper that runs the package with its Node.
    mesh = join(m.dir, 'bin/mesh')
    hook = join(m.dir, 'libexec/buildmesh/build-hook')
    conf = m.pathOnMachine('/etc/nix/nix.conf')
    await m.run('install', ['-d', join(m.dir, 'bin')])
    await writeFile(mesh, `#!/bin/sh\nexec '${process.execPath}' '${MESH}' "$@"\n`)
    await chmod(mesh, 0o755)
  })

  it('makes mesh build-hook Nix\'s hook once, however often it runs, and keeps a hook the user named', async () => {
    const m = lan.host('m')
    const before = await readFile(conf, 'utf8')
    for (let i = 0; i < 2; i++) await m.run(SCRIPT, [mesh, hook, conf])
    expect(await readFile(conf, 'utf8')).toBe(`${before}build-hook = ${hook}\n`)

    const theirs = join(m.dir, 'their.conf')
    await writeFile(theirs, 'build-hook = /opt/their-hook\n')
    const kept = await m.run(SCRIPT, [mesh, hook, theirs])
    expect(kept.stdout).toBe(`use-build-hook.sh: ${theirs} already names a build hook; for buildmesh's, make it: build-hook = ${hook}\n`)
    expect(await readFile(theirs, 'utf8')).toBe('build-hook = /opt/their-hook\n')

    const usage = await m.run(SCRIPT, [mesh], { allowFailure: true })
    expect(usage.code).toBe(2)
    expect(usage.stderr).toMatch(/^Usage: deploy\/use-build-hook\.sh MESH HOOK NIX_CONF/)
  })

  it('has Nix ask the agent through it, and Nix\'s own hook once buildmesh is gone', async () => {
    const m = lan.host('m')
    await m.run(SCRIPT, [mesh, hook, conf])
    const asked = await nixBuild(m, await writeJobs(m.dir, `${lan.prefix}-installed`, 2, 1), ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`through the installed hook, 2 x 1 s, --max-jobs 0: ${summary(asked)}`)
    expect(asked.outputs.map((o) => o.builtOn)).toEqual(['b1', 'b1'])
    expect(asked.log).toMatch(new RegExp(`buildmesh: /nix/store/\\S+\\.drv: build on ${lan.host('b1').address.replaceAll('.', '\\.')}\n`))

    await rm(mesh)
    const own = await nixBuild(m, await writeJobs(m.dir, `${lan.prefix}-uninstalled`, 2, 1), ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`mesh gone, 2 x 1 s, --max-jobs 0: ${summary(own)}`)
    expect(own.outputs.map((o) => o.builtOn)).toEqual(['b1', 'b1'])
    expect(own.log).not.toContain('buildmesh:')
  })
})
