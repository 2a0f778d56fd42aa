import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { useLan } from './harness/index.ts'
import { nixBuild, startHookedMesh, summary, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs } from './support/offload.ts'

/**
 * A run of Nix stopped with Ctrl-C kills its builds and its hooks before they can tell the agent:
 * the agent sees the run's process gone. The master (m) is 1.2 times as fast as b1, so an idle
 * master is the first choice for an ordinary build and a busy one is not.
 */
describe('a run of Nix that was stopped', () => {
  const lan = useLan({ hosts: ['m', 'b1'] })
  let master: BuildingMaster

  beforeAll(async () => {
    ({ master } = await startHookedMesh(lan, ['--speed', '1.2'], [{ name: 'b1', speed: 1, slots: 2 }]))
  })

  it('no longer holds the master\'s cores: the next run builds on the idle master', async () => {
    const m = lan.host('m')
    // A big-parallel build the agent keeps on the master, where it takes every core. It prints
    // as it goes, as builds do: Nix 2.8 sees Ctrl-C only when something wakes it.
    const giant = join(m.dir, 'giant.nix')
    await writeFile(giant, `derivation {
  name = "${lan.prefix}-giant";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "i=0; while [ $i -lt 60 ]; do echo $i; /bin/sleep 1; i=$((i + 1)); done; echo > $out" ];
  requiredSystemFeatures = [ "big-parallel" ];
}
`)
    const stopped = m.spawn('nix-build', [giant, '--no-out-link', '--max-jobs', '1', '--builders', `@${master.nixFile}`, '-v'])
    await stopped.waitForOutput(`${lan.prefix}-giant.drv: build here`, { timeoutMs: 20_000 })
    await stopped.waitForOutput(new RegExp(`building '/nix/store/[a-z0-9]{32}-${lan.prefix}-giant\\.drv'`), { timeoutMs: 10_000 })
    // Ctrl-C: the terminal signals the whole process group, Nix and its hook.
    const interruptedAt = performance.now()
    stopped.kill('SIGINT')
    const end = await stopped.exited
    expect(end.code === 0, JSON.stringify(end)).toBe(false)
    expect(performance.now() - interruptedAt).toBeLessThan(5000)

    // Counted as still running, the giant would leave the master 0.8 units a second for an
    // ordinary build, against b1's 1: both builds would go to b1.
    const jobs = await writeJobs(m.dir, `${lan.prefix}-after`, 2, 1)
    const build = await nixBuild(m, jobs, ['--max-jobs', '2', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`after a stopped run, 2 x 1 s, --max-jobs 2: ${summary(build)}`)
    expect(build.outputs.map((o) => o.builtOn)).toEqual(['m', 'm'])
  })
})
