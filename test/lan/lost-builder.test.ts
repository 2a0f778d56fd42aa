import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { useLan, waitFor } from './harness/index.ts'
import { peersOf } from './support/mesh.ts'
import { nixBuild, startHookedMesh, summary, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs, type MeshBuilder } from './support/offload.ts'

const JOBS = 3
const SECONDS = 2

/**
 * A master (m) with the real `mesh build-hook` and two builders, b1 four times as fast as b2, that
 * are lost while the agent would choose b1. Every Nix, ssh and mesh process is real.
 */
describe('a builder lost to Nix\'s own hook', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2'] })
  let master: BuildingMaster
  let builders: MeshBuilder[]

  beforeAll(async () => {
    // b1 is four times as fast as b2: the agent's first choice for every build.
    ({ master, builders } = await startHookedMesh(lan, [], [{ name: 'b1', speed: 4, slots: 2 }, { name: 'b2', speed: 1, slots: 2 }]))
  })

  it('unplugged while it builds: the build is done again on the other builder, and Nix sees it succeed', async () => {
    const m = lan.host('m')
    const b1 = builders[0] as MeshBuilder
    await waitFor(async () => (await peersOf(m)).filter((p) => p.eligible && p.name.startsWith('b')).length === 2, { what: 'both builders eligible' })
    // One quiet build of 12 s, nothing local: it goes to b1, the fastest.
    const jobs = await writeJobs(m.dir, `${lan.prefix}-cut`, 1, 12)
    const running = nixBuild(m, jobs, ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
    try {
      await waitFor(async () => ((await peersOf(m)).find((p) => p.name === 'b1')?.slotsInUse ?? 0) > 0, { timeoutMs: 15_000, what: 'the build running on b1' })
      await lan.cutLink('b1')
      const build = await running
      console.info(`b1 unplugged 12 s build in: ${summary(build)}`)
      expect(build.outputs.map((o) => o.builtOn)).toEqual(['b2'])
      expect(build.log).toContain(`buildmesh: ${b1.host.address} was lost while building /nix/store/`)
      expect(build.log).toContain(`copying path '${build.outputs[0]?.path ?? ''}' from 'ssh-ng://root@${lan.host('b2').address}'`)
      // SSH gives up on b1 15 to 20 s after it went quiet; then 12 s on b2. Without a keepalive
      // Nix would wait on b1's connection for two hours.
      expect(build.seconds).toBeLessThan(60)
    } finally {
      await running.catch(() => {})
      await lan.restoreLink('b1')
    }
  })

  it('with its sshd gone, is checked at once and left out, the builds go to the other builder within a poll, and the failed tries teach nothing', async () => {
    const m = lan.host('m')
    const b1 = builders[0] as MeshBuilder
    await waitFor(async () => (await peersOf(m)).filter((p) => p.eligible && p.name.startsWith('b')).length === 2, { timeoutMs: 20_000, what: 'both builders eligible, their SSH checked' })
    await b1.sshd.process.stop()

    // --max-jobs 0: only builders build, so the hook accepts each build for Nix at once, and one
    // Nix's own hook could not start is moved to another builder then, not at Nix's next poll.
    const jobs = await writeJobs(m.dir, `${lan.prefix}-gone`, JOBS, SECONDS)
    const build = await nixBuild(m, jobs, ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`b1's sshd stopped, ${JOBS} x ${SECONDS} s, --max-jobs 0: ${summary(build)}`)
    expect(build.outputs).toHaveLength(JOBS)
    expect(build.outputs.map((o) => o.builtOn)).toEqual(Array(JOBS).fill('b2'))
    // The agent did pick b1, and Nix's own hook could not reach it.
    expect(build.log).toContain(`cannot build on 'ssh-ng://root@${b1.host.address}'`)
    expect(build.log).toMatch(new RegExp(`buildmesh: ${b1.host.address.replaceAll('.', '\\.')} did not take \\S+\\.drv; building it on another machine`))
    // Not picked again until its next SSH check, a minute later, it would keep the run waiting that long.
    expect(build.seconds).toBeLessThan(30)
    const view = (await peersOf(m)).find((p) => p.name === 'b1')
    expect(view?.eligible).toBe(false)
    expect(view?.reason).toMatch(/^SSH check failed \(.*\); next try in \d+s$/)

    // What the agent learnt, as it keeps it: each job's time on b2, not the moment b1 took to fail.
    await master.stop()
    const history = JSON.parse(await readFile(join(master.stateDir, 'build-history.json'), 'utf8')) as Array<[string, number]>
    const learnt = history.filter(([name]) => name.startsWith(`${lan.prefix}-gone`))
    expect(learnt).toHaveLength(JOBS)
    for (const [name, work] of learnt) expect(work, name).toBeGreaterThanOrEqual(SECONDS)
  })
})
