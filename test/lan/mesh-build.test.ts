import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { useLan, waitFor } from './harness/index.ts'
import { MESH, makeMeshKey, nixLines, peersOf, startBuilder, startMaster } from './support/mesh.ts'
import { countByBuilder, writeJobs } from './support/offload.ts'

/**
 * Per-build choice with real Nix: `mesh builders` prints a selection, `mesh build` runs Nix with
 * it. The master host is not a builder and Nix has no local slot, so every output shows where
 * the selection sent it.
 */
describe('mesh builders and mesh build', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2'] })

  it('builds only on the named builder, prints selections in both formats, and names unknown builders', async () => {
    const meshKey = await makeMeshKey(lan)
    const m = lan.host('m')
    const master = await startMaster(m, { meshKey, args: ['--overload-threshold', '0.9'] })
    await Promise.all(['b1', 'b2'].map(async (name) => await startBuilder(lan.host(name), { meshKey, args: ['--slots', '2', '--speed', '1'] })))
    await waitFor(async () => (await nixLines(master.nixFile)).length === 2, { timeoutMs: 10_000, what: 'both builders listed' })
    await waitFor(async () => (await lan.host('b2').run('cat', [`${lan.host('b2').dir}/authorized_keys`], { allowFailure: true })).stdout.includes('buildmesh:'), { timeoutMs: 5000, what: 'b2 authorized the master' })

    const only = (await m.run(process.execPath, [MESH, 'builders', '--only', 'b2'])).stdout.trimEnd().split('\n')
    expect(only).toHaveLength(1)
    expect(only[0]).toMatch(new RegExp(`^ssh-ng://root@${lan.host('b2').address.replaceAll('.', '\\.')} `))
    const guix = (await m.run(process.execPath, [MESH, 'builders', '--exclude', 'b2', '--format', 'guix'])).stdout
    expect(guix).toContain(`(name "${lan.host('b1').address}")`)
    expect(guix).not.toContain(lan.host('b2').address)
    // The agent's threshold, as in the machines.scm it writes itself.
    expect(guix).toContain('(overload-threshold 0.9)')
    expect(await readFile(master.guixFile, 'utf8')).toContain('(overload-threshold 0.9)')
    expect((await m.run(process.execPath, [MESH, 'builders', '--system', 'aarch64-linux'])).stdout).toBe('')

    const unknown = await m.run(process.execPath, [MESH, 'builders', '--only', 'b2,nope'], { allowFailure: true })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toBe('mesh builders: unknown builder "nope" (known: b1, b2)\n')

    const jobs = await writeJobs(m.dir, `${lan.prefix}-only`, 4, 1)
    const build = await m.run(process.execPath, [MESH, 'build', '--only', 'b2', '--', 'nix-build', jobs, '--max-jobs', '0', '--no-out-link'], { timeoutMs: 90_000 })
    const outputs = build.stdout.split('\n').filter((l) => l !== '')
    expect(outputs).toHaveLength(4)
    const builtOn = await Promise.all(outputs.map(async (path) => ({ path, builtOn: (await readFile(m.pathOnMachine(path), 'utf8')).trim() })))
    expect([...countByBuilder(builtOn).entries()]).toEqual([['b2', 4]])
    expect(build.stderr).not.toContain(lan.host('b1').address)

    // Nix asks again every second about a build waiting for the selection; the caller's own setting wins.
    const showConfig = ['--', 'nix', '--extra-experimental-features', 'nix-command', 'show-config']
    const pollOf = (config: string): string | undefined => /^build-poll-interval = (\d+)$/m.exec(config)?.[1]
    expect(pollOf((await m.run('nix', showConfig.slice(2))).stdout)).toBe('5')
    expect(pollOf((await m.run(process.execPath, [MESH, 'build', '--only', 'b2', ...showConfig])).stdout)).toBe('1')
    expect(pollOf((await m.run(process.execPath, [MESH, 'build', '--only', 'b2', ...showConfig], { env: { NIX_CONFIG: 'build-poll-interval = 3' } })).stdout)).toBe('3')

    const failing = await m.run(process.execPath, [MESH, 'build', '--only', 'b1', '--', 'sh', '-c', 'exit 7'], { allowFailure: true })
    expect(failing.code).toBe(7)
    expect((await peersOf(m)).map((p) => p.name)).toEqual(['b1', 'b2'])
  })
})
