import { beforeAll, describe, expect, it } from 'vitest'
import { useLan, waitFor } from './harness/index.ts'
import { peersOf } from './support/mesh.ts'
import { nixBuild, startHookedMesh, summary, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs, type MeshBuilder } from './support/offload.ts'

/**
 * A builder whose sshd hangs (overloaded, or stuck): it takes connections and never says a word.
 * ssh waits for its banner with no limit of its own, and the agent learns of it only at its next
 * SSH check, a minute later. Real Nix, ssh and mesh processes on the LAN harness.
 */
describe('a builder whose sshd hangs', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2'] })
  let master: BuildingMaster
  let b1: MeshBuilder

  beforeAll(async () => {
    // b1 is four times as fast as b2: the agent's first choice for every build.
    const mesh = await startHookedMesh(lan, [], [{ name: 'b1', speed: 4, slots: 2 }, { name: 'b2', speed: 1, slots: 2 }])
    master = mesh.master
    b1 = mesh.builders[0] as MeshBuilder
  })

  it('costs a build ssh\'s connect timeout, after which it goes to the other builder, and never holds Nix', async () => {
    const m = lan.host('m')
    await waitFor(async () => (await peersOf(m)).filter((p) => p.eligible && p.name.startsWith('b')).length === 2, { timeoutMs: 20_000, what: 'both builders eligible, their SSH checked' })
    await b1.sshd.process.stop()
    const silent = b1.host.spawn(process.execPath, ['-e', `require('node:net').createServer(() => {}).listen(22, '${b1.host.address}', () => console.log('listening'))`])
    try {
      await silent.waitForOutput('listening')
      const jobs = await writeJobs(m.dir, `${lan.prefix}-hung`, 2, 1)
      const build = await nixBuild(m, jobs, ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
      console.info(`b1's sshd hung, 2 x 1 s, --max-jobs 0: ${summary(build)}`)
      expect(build.outputs.map((o) => o.builtOn)).toEqual(['b2', 'b2'])
      expect(build.log).toMatch(new RegExp(`buildmesh: ${b1.host.address.replaceAll('.', '\\.')} did not take \\S+\\.drv; building it on another machine`))
      // One connect timeout (10 s), not one for each build sent to b1 before its check failed.
      expect(build.seconds).toBeLessThan(20)
    } finally {
      await silent.stop()
    }
  })
})
