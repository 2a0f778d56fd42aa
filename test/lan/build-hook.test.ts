import { appendFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import type { Host } from './harness/index.ts'
import { useLan } from './harness/index.ts'
import { writeHookScript } from './support/mesh.ts'
import { startNixDaemon } from './support/builder-faults.ts'
import { nixBuild, startHookedMesh, summary, type Build, type BuildingMaster } from './support/build-hook.ts'
import { writeJobs } from './support/offload.ts'

const SLOTS = 2

/** A compiler (10 s) and the app built with it; a prep (1 s) and the docs built with it. Names from `prefix`, .drv files new for each `tag`. */
async function writeChain (host: Host, prefix: string, tag: string): Promise<string> {
  const file = join(host.dir, `chain-${tag}.nix`)
  await writeFile(file, `let
  job = name: seconds: inputs: derivation {
    inherit name inputs;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "read h < /proc/sys/kernel/hostname; /bin/sleep \${seconds}; echo $h > $out" ];
    tag = "${tag}";
  };
  compiler = job "${prefix}-compiler" "10" [ ];
  prep = job "${prefix}-prep" "1" [ ];
in [ compiler prep (job "${prefix}-app" "2" [ compiler ]) (job "${prefix}-docs" "1" [ prep ]) ]
`)
  return file
}

/** An older evaluation of `chain` (writeChain's): two compilers, never built, that wait for its docs. */
async function writeStaleUsers (host: Host, prefix: string, tag: string, chain: string): Promise<string> {
  const file = join(host.dir, `stale-${tag}.nix`)
  await writeFile(file, `let
  docs = builtins.elemAt (import ${chain}) 3;
  job = name: old: inputs: derivation {
    inherit name inputs old;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "/bin/sleep 10; echo > $out" ];
    tag = "${tag}";
  };
in job "${prefix}-compiler" "2" [ (job "${prefix}-compiler" "1" [ docs ]) ]
`)
  return file
}

const builtOn = (b: Build): Record<string, string> => Object.fromEntries(b.outputs.map((o) => [o.path.replace(/^\/nix\/store\/[a-z0-9]{32}-[^-]+-/, ''), o.builtOn]))

/**
 * `mesh build-hook` as Nix 2.8's build hook on a master (m) that builds too, with two builders
 * (b1, b2) that each run sshd and a builder agent. Every Nix, ssh and mesh process is real.
 */
describe('mesh build-hook with the real Nix 2.8', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2'] })
  let master: BuildingMaster
  let agentDownHook: string

  beforeAll(async () => {
    // b1 also builds for aarch64-linux (its builds here only run /bin/sh), which the master does not.
    await appendFile(lan.host('b1').pathOnMachine('/etc/nix/nix.conf'), 'extra-platforms = aarch64-linux\n')
    // The master's own slots are Nix's --max-jobs; --speed 4 makes this idle master 4 times as
    // fast as the builders.
    const mesh = await startHookedMesh(lan, ['--speed', '4'], ['b1', 'b2'].map((name) => ({ name, speed: 1, slots: SLOTS })))
    master = mesh.master
    agentDownHook = await writeHookScript(lan.host('m'), 'mesh-build-hook-agent-down', ['--nix-machines', master.nixFile, '--socket', '/run/buildmesh/nobody-here.sock'])
  })

  it('with the agent unreachable, builds exactly as Nix\'s own hook would: remote builders first', async () => {
    const m = lan.host('m')
    const jobs = await writeJobs(m.dir, `${lan.prefix}-down`, 4, 1)
    const build = await nixBuild(m, jobs, ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '--option', 'build-hook', agentDownHook])
    console.info(`agent unreachable, 4 x 1 s, --max-jobs 4: ${summary(build)}`)
    expect(build.outputs).toHaveLength(4)
    // Nix's own policy: a builder with a free slot wins over the idle master, so nothing is built
    // here; which builders depends on how fast earlier builds finish on a busy machine.
    expect(build.counts.get('m') ?? 0).toBe(0)
    for (const o of build.outputs) expect(build.log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${lan.host(o.builtOn).address}'`)
    expect(build.log).toContain('buildmesh: the agent cannot decide (cannot reach the buildmesh agent at /run/buildmesh/nobody-here.sock')
  })

  it('keeps builds on an idle master that is 4 times faster than the builders', async () => {
    const m = lan.host('m')
    const jobs = await writeJobs(m.dir, `${lan.prefix}-idle`, 4, 1)
    const build = await nixBuild(m, jobs, ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`agent deciding, 4 x 1 s, --max-jobs 4: ${summary(build)}`)
    expect(build.outputs).toHaveLength(4)
    expect(build.counts.get('m') ?? 0).toBeGreaterThanOrEqual(3)
    expect(build.log).toMatch(/buildmesh: \/nix\/store\/\S+-job-\d\.drv: build here/)
    expect(build.log).not.toContain('cannot decide')
  })

  it('with no local slot (--max-jobs 0), builds on the builders the agent picks, through Nix\'s own hook', async () => {
    const m = lan.host('m')
    // Six builds on 2 x 2 builder slots: more than fit at once if they all started together.
    const jobs = await writeJobs(m.dir, `${lan.prefix}-remote`, 6, 1)
    const build = await nixBuild(m, jobs, ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`agent deciding, 6 x 1 s, --max-jobs 0: ${summary(build)}`)
    expect(build.outputs).toHaveLength(6)
    // Which builder is the agent's choice; Nix starts one remote build at a time, so on a busy
    // machine each may end before the next starts and one builder can take them all.
    for (const o of build.outputs) {
      expect(['b1', 'b2']).toContain(o.builtOn)
      expect(build.log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${lan.host(o.builtOn).address}'`)
      const name = o.path.slice('/nix/store/'.length + 33)
      expect(build.log).toMatch(new RegExp(`buildmesh: /nix/store/[a-z0-9]{32}-${name}\\.drv: build on ${lan.host(o.builtOn).address.replaceAll('.', '\\.')}\n`))
    }
    expect(build.log).not.toContain('cannot decide')
    // Nix could not build them here: the hook accepted each at once, so Nix went on before Nix's
    // own hook had connected to the builder (which answers only once it has).
    const firstStart = build.log.search(/building '\/nix\/store\/\S+\.drv' on 'ssh-ng:\/\//)
    expect(firstStart).toBeGreaterThan(-1)
    expect(firstStart).toBeLessThan(build.log.indexOf('connecting to \'ssh-ng://'))
  })

  it('accepts at once a build Nix has a local slot for but cannot build here, another system, so that Nix goes on meanwhile', async () => {
    const m = lan.host('m')
    const build = await nixBuild(m, await writeJobs(m.dir, `${lan.prefix}-arm`, 2, 1, 'aarch64-linux'), ['--max-jobs', '2', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`aarch64-linux, 2 x 1 s, --max-jobs 2: ${summary(build)}`)
    expect(build.outputs.map((o) => o.builtOn)).toEqual(['b1', 'b1'])
    const firstStart = build.log.search(/building '\/nix\/store\/\S+-arm-job-\d\.drv' on 'ssh-ng:\/\//)
    expect(firstStart).toBeGreaterThan(-1)
    expect(firstStart).toBeLessThan(build.log.indexOf('connecting to \'ssh-ng://'))
  })

  it('once it knows how long the builds take, sends a build the run does not wait for to a builder while the master builds the chain, whatever older evaluations in the store wait for it', async () => {
    const m = lan.host('m')
    // The names stay, so the second run has the first one's history; the tag makes every .drv new.
    const graph = async (tag: string): Promise<string> => await writeChain(m, lan.prefix, tag)
    const first = await nixBuild(m, await graph(`${lan.prefix}-teach`), ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`chain, first run (no history): ${summary(first)}`)
    // Nothing known: the idle master is the fastest place for every build.
    expect(builtOn(first)).toEqual({ compiler: 'm', prep: 'm', app: 'm', docs: 'm' })
    const second = await nixBuild(m, await graph(`${lan.prefix}-again`), ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`chain, second run: ${summary(second)}`)
    const placed = builtOn(second)
    // The compiler and the app after it are the run's chain: they stay on the fast master. The
    // store told the agent what waits for each; the prep and docs builds have the slack.
    expect(placed.compiler).toBe('m')
    expect(placed.app).toBe('m')
    expect([placed.prep, placed.docs].filter((h) => h !== 'm').length, JSON.stringify(placed)).toBeGreaterThanOrEqual(1)
    for (const o of second.outputs.filter((x) => x.builtOn !== 'm')) {
      expect(second.log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${lan.host(o.builtOn).address}'`)
    }

    // An older evaluation left two compilers in the store that wait for these very docs and were
    // never built: 20 s of work after the docs, if they counted. They are no part of the run, and
    // Nix's temporary roots of the run, which the hook reads, say so.
    const tag = `${lan.prefix}-stale`
    const file = await graph(tag)
    const stale = await writeStaleUsers(m, lan.prefix, tag, file)
    await m.run('nix-instantiate', [stale])
    const third = await nixBuild(m, file, ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`chain, with an older evaluation waiting for the docs: ${summary(third)}`)
    const again = builtOn(third)
    expect(again.compiler).toBe('m')
    expect(again.docs, JSON.stringify(again)).not.toBe('m')
  })

  it('does the same under a nix-daemon (multi-user Nix), whose worker runs the hook as root', async () => {
    const m = lan.host('m')
    const prefix = `${lan.prefix}d`
    const daemon = await startNixDaemon(m)
    try {
      // As a multi-user Nix's clients reach it. (`--option store daemon` would pass the daemon's
      // own address on to its worker and so to Nix's own hook, which would then copy a remote
      // build's outputs back through a second daemon worker, and wait for the first one's lock.)
      const args = ['--max-jobs', '4', '--builders', `@${master.nixFile}`, '-v']
      const viaDaemon = { NIX_REMOTE: 'daemon' }
      const first = await nixBuild(m, await writeChain(m, prefix, `${prefix}-teach`), args, viaDaemon)
      console.info(`chain through the daemon, first run: ${summary(first)}`)
      expect(builtOn(first)).toEqual({ compiler: 'm', prep: 'm', app: 'm', docs: 'm' })
      const tag = `${prefix}-stale`
      const file = await writeChain(m, prefix, tag)
      await m.run('nix-instantiate', [await writeStaleUsers(m, prefix, tag, file)])
      const second = await nixBuild(m, file, args, viaDaemon)
      console.info(`chain through the daemon, with an older evaluation waiting for the docs: ${summary(second)}`)
      const placed = builtOn(second)
      expect(placed.compiler).toBe('m')
      expect(placed.docs, JSON.stringify(placed)).not.toBe('m')
      expect(second.log).toMatch(/buildmesh: \/nix\/store\/\S+-compiler\.drv: build here/)
      expect(second.log).not.toContain('cannot decide')
      // With no local slot the worker's hook accepts each build at once, as without the daemon.
      const remote = await nixBuild(m, await writeJobs(m.dir, `${prefix}-remote`, 4, 1), ['--max-jobs', '0', '--builders', `@${master.nixFile}`, '-v'], viaDaemon)
      console.info(`through the daemon, 4 x 1 s, --max-jobs 0: ${summary(remote)}`)
      for (const o of remote.outputs) expect(['b1', 'b2']).toContain(o.builtOn)
      expect(remote.log.search(/building '\/nix\/store\/\S+\.drv' on 'ssh-ng:\/\//)).toBeLessThan(remote.log.indexOf('connecting to \'ssh-ng://'))
      expect(daemon.output()).toMatch(/accepted connection from pid \d+, user root/)
    } finally {
      await daemon.stop()
    }
  })

  it('fails a build that fails on the builder as Nix\'s own hook does, with the builder\'s log', async () => {
    const m = lan.host('m')
    const file = join(m.dir, 'failing.nix')
    await writeFile(file, `derivation { name = "fails"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "read h < /proc/sys/kernel/hostname; echo \\"no luck on $h\\" >&2; exit 3" ]; tag = "${lan.prefix}"; }\n`)
    const result = await m.run('nix-build', [file, '--no-out-link', '--max-jobs', '0', '--builders', `@${master.nixFile}`], { allowFailure: true })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/no luck on b[12]/)
    expect(result.stderr).toMatch(/build of '\/nix\/store\/\S+-fails\.drv' on 'ssh-ng:\/\/root@10\.77\.0\.[23]' failed/)
  })

  it('sends the overflow to the builders once the master\'s slots are full', async () => {
    const m = lan.host('m')
    const jobs = await writeJobs(m.dir, `${lan.prefix}-full`, 5, 2)
    const build = await nixBuild(m, jobs, ['--max-jobs', '1', '--builders', `@${master.nixFile}`, '-v'])
    console.info(`agent deciding, 5 x 2 s, --max-jobs 1: ${summary(build)}`)
    expect(build.outputs).toHaveLength(5)
    expect(build.counts.get('m') ?? 0).toBeGreaterThanOrEqual(1)
    const remote = build.outputs.filter((o) => o.builtOn !== 'm')
    // Nix asks about every ready derivation in one pass, each with amWilling = 1 (no local build
    // has started yet), and again each time its one slot frees: the agent must count its own
    // `local` answers against the master's slots for the overflow to reach the builders.
    expect(remote.length, 'builds sent to the builders').toBeGreaterThanOrEqual(3)
    for (const o of remote) {
      expect(['b1', 'b2']).toContain(o.builtOn)
      expect(build.log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${lan.host(o.builtOn).address}'`)
    }
    expect(build.log).not.toContain('cannot decide')
  })

  it('builds two runs of Nix at once to the end, both through the agent', async () => {
    const m = lan.host('m')
    const files = await Promise.all(['one', 'two'].map(async (tag) => await writeJobs(m.dir, `${lan.prefix}-${tag}`, 6, 3)))
    // Without a daemon each nix-build opens the store itself: the first to create its database
    // would find the other's busy. Instantiated first, one after the other, they only build.
    for (const file of files) await m.run('nix-instantiate', [file])
    // Two nix-build processes are two workers, each with its own hooks, asking the agent at once.
    const runs = await Promise.all(files.map(async (file) => await nixBuild(m, file, ['--max-jobs', '1', '--builders', `@${master.nixFile}`, '-v'])))
    for (const [k, build] of runs.entries()) console.info(`agent deciding, run ${k + 1} of 2 at once, 6 x 3 s, --max-jobs 1: ${summary(build)}`)
    for (const build of runs) {
      expect(build.outputs).toHaveLength(6)
      for (const o of build.outputs) expect(['m', 'b1', 'b2']).toContain(o.builtOn)
      expect(build.log).not.toContain('cannot decide')
      expect(build.log).not.toContain('own build hook takes over')
    }
    const remote = runs.flatMap((b) => b.outputs).filter((o) => o.builtOn !== 'm')
    expect(new Set(remote.map((o) => o.builtOn))).toEqual(new Set(['b1', 'b2']))
  })

  it('tells Nix itself to keep waiting where the agent answered the round ahead, and still builds everything where the agent chose', async () => {
    const m = lan.host('m')
    const jobs = await writeJobs(m.dir, `${lan.prefix}-ahead`, 12, 3)
    const build = await nixBuild(m, jobs, ['--max-jobs', '1', '--builders', `@${master.nixFile}`, '-v'])
    const answers = (what: RegExp): number => (build.log.match(what) ?? []).length
    const ahead = answers(/^buildmesh: \/nix\/store\/\S+\.drv: still waits, as the agent answered ahead$/gm)
    const all = answers(/^buildmesh: \/nix\/store\/\S+\.drv: /gm)
    console.info(`agent deciding, 12 x 3 s, --max-jobs 1: ${summary(build)}; ${ahead} of ${all} answers given ahead`)
    expect(build.outputs).toHaveLength(12)
    expect(new Set(build.outputs.map((o) => o.builtOn))).toEqual(new Set(['m', 'b1', 'b2']))
    // Five slots for twelve builds: after every end Nix asks each waiter again, and only the
    // first of a round needs the agent while nothing is free. How many rounds find nothing free
    // depends on when the builds end: 6 to 14 of 29 to 44 answers over six runs here.
    expect(ahead, 'answers the hook gave itself').toBeGreaterThanOrEqual(3)
    expect(build.log).not.toContain('cannot decide')
  })
})
