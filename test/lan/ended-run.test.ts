import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { useLan } from './harness/index.ts'
import { nixBuild, startHookedMesh, summary, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs } from './support/offload.ts'

/**
 * A run of Nix stopped with Ctrl-C kills its builds and its hooks before they can tell the agent:
 * the agent sees the run's process gone. A build that failed in a run that goes on leaves no
 * outputs: the agent sees Nix let go of their locks. The master (m) is 1.2 times as fast as b1, so an idle
 * master is the first choice for an ordinary build and a busy one is not.
 */
describe('a build that ended without telling the agent', () => {
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

  it('nor does a build that failed in a run that goes on (--keep-going): the run\'s next builds stay on the idle master', async () => {
    const m = lan.host('m')
    // The giant, asked about first, fails on the master after a second; the gate goes to b1 while
    // the giant holds the master's cores; the two builds after the gate come once it has failed.
    const file = join(m.dir, 'keep-going.nix')
    await writeFile(file, `let
  job = name: script: extra: derivation ({
    name = "${lan.prefix}-\${name}";
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" script ];
  } // extra);
  gate = job "2-gate" "/bin/sleep 3; echo > $out" { };
  after = n: job "3-after-\${n}" "read h < /proc/sys/kernel/hostname; /bin/sleep 1; echo $h > $out" { inherit gate; };
in {
  giant = job "1-giant" "/bin/sleep 1; exit 1" { requiredSystemFeatures = [ "big-parallel" ]; };
  after1 = after "1";
  after2 = after "2";
}
`)
    const startedAt = performance.now()
    const run = await m.run('nix-build', [file, '--keep-going', '--no-out-link', '--max-jobs', '2', '--builders', `@${master.nixFile}`, '-v'], { allowFailure: true, timeoutMs: 60_000 })
    const seconds = (performance.now() - startedAt) / 1000
    expect(run.code).not.toBe(0)
    expect(run.stderr).toMatch(/1-giant\.drv: build here/)
    expect(run.stderr).toMatch(/builder for '\/nix\/store\/\S+-1-giant\.drv' failed/)
    // Built now, the two are only looked up.
    const built = await m.run('nix-build', [file, '-A', 'after1', '-A', 'after2', '--no-out-link'])
    const hosts = await Promise.all(built.stdout.trim().split('\n').map(async (path) => (await readFile(m.pathOnMachine(path), 'utf8')).trim()))
    console.info(`--keep-going after a failed local giant, 2 x 1 s after a 3 s gate, --max-jobs 2: ${seconds.toFixed(1)} s, after1 and after2 on ${hosts.join(', ')}`)
    expect(hosts).toEqual(['m', 'm'])
  })
})
