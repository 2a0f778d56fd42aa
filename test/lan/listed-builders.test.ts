import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { startSshd, useLan, waitFor, type Sshd } from './harness/index.ts'
import { MESH, peersOf } from './support/mesh.ts'
import { nixBuild, startHookedMesh, summary, type Build, type BuildingMaster } from './support/build-hook.ts'
import { countByBuilder, writeJobs, type MeshBuilder } from './support/offload.ts'

/**
 * The builders a setting names, with the real `mesh build-hook` as Nix 2.8's hook on a master (m)
 * that builds too: a member of the mesh (b1), and a static builder (s) that runs sshd and Nix but
 * no agent, as a machine the user lists by hand. Every Nix, ssh and mesh process is real.
 */
/** Where `timedJobs` ran, and the most that ran at once. */
function timeline (build: Build): { hosts: string[], mostAtOnce: number } {
  const runs = build.outputs.map((o) => o.builtOn.split(' '))
  const spans = runs.map(([, start, end]) => [Number(start), Number(end)] as const)
  return { hosts: runs.map(([host]) => host as string), mostAtOnce: Math.max(...spans.map(([start]) => spans.filter(([s, e]) => s <= start && start < e).length)) }
}

describe('the builders Nix\'s setting names, with mesh build-hook', () => {
  const lan = useLan({ hosts: ['m', 'b1', 's'] })
  let master: BuildingMaster
  let b1: MeshBuilder
  let s: Sshd

  /** Four 2 s builds that write the host they ran on, and when they began and ended there. */
  async function timedJobs (name: string): Promise<string> {
    const file = join(lan.host('m').dir, `${name}.nix`)
    await writeFile(file, `builtins.genList (i: derivation {
  name = "${name}-\${toString i}";
  system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "read h < /proc/sys/kernel/hostname; s=$(/bin/date +%s.%N); /bin/sleep 2; echo $h $s $(/bin/date +%s.%N) > $out" ];
  tag = "${lan.prefix}";
}) 4
`)
    return file
  }

  beforeAll(async () => {
    // Four times as fast as b1: the agent keeps what it may on this idle master.
    const mesh = await startHookedMesh(lan, ['--speed', '4'], [{ name: 'b1', speed: 1, slots: 2 }])
    master = mesh.master
    b1 = mesh.builders[0] as MeshBuilder
    // s is set up by hand: the master's key let in, and the one feature it is kept for.
    s = await startSshd(lan.host('s'), { authorizedKeys: [mesh.masterKey] })
    await appendFile(lan.host('s').pathOnMachine('/etc/nix/nix.conf'), 'system-features = s-only\n')
  })

  it('builds on a static builder listed beside the agent\'s file what no member can, and leaves the rest to the agent', async () => {
    const m = lan.host('m')
    const file = join(m.dir, 'beside.nix')
    await writeFile(file, `let
  job = name: features: derivation {
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "read h < /proc/sys/kernel/hostname; /bin/sleep 1; echo $h > $out" ];
    requiredSystemFeatures = features;
    tag = "${lan.prefix}";
  };
in [ (job "for-s-1" [ "s-only" ]) (job "for-s-2" [ "s-only" ]) (job "plain" [ ]) ]
`)
    // s only takes the builds that ask for s-only (a mandatory feature), as such a machine is
    // listed, one at a time: the second waits for Nix's own hook to find its slot free.
    const sLine = `ssh-ng://root@${s.address} x86_64-linux ${master.stateDir}/ssh/id_ed25519 1 1 - s-only ${s.hostKeyBase64}`
    const build = await nixBuild(m, file, ['--max-jobs', '1', '--builders', `@${master.nixFile} ; ${sLine}`, '-v'])
    console.info(`beside the agent's file, a static builder for s-only: ${summary(build)}`)
    expect(build.outputs.map((o) => o.builtOn)).toEqual(['s', 's', 'm'])
    for (const o of build.outputs.slice(0, 2)) expect(build.log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${s.address}'`)
    expect(build.log).toMatch(/buildmesh: \/nix\/store\/\S+-for-s-\d\.drv: the machines outside the mesh answered postpone/)
    expect(build.log.match(/buildmesh: \/nix\/store\/\S+-for-s-\d\.drv: build on a machine outside the mesh/g)).toHaveLength(2)
    expect(build.log).toMatch(/buildmesh: \/nix\/store\/\S+-plain\.drv: build here/)
  })

  it('knows a member that a line beside the agent\'s file names by a name resolving to it, and never fills its slots twice', async () => {
    const m = lan.host('m')
    // The user's old static line for b1, under the name their /etc/hosts gives it.
    const etcHosts = join(m.dir, 'hosts')
    await writeFile(etcHosts, `127.0.0.1 localhost\n${b1.host.address} ruby\n`)
    await m.run('mount', ['--bind', etcHosts, '/etc/hosts'])
    const rubyLine = `ssh-ng://root@ruby x86_64-linux ${master.stateDir}/ssh/id_ed25519 2 1 - - ${b1.sshd.hostKeyBase64}`
    const build = await nixBuild(m, await timedJobs('named'), ['--max-jobs', '0', '--builders', `@${master.nixFile} ; ${rubyLine}`, '-v'])
    const { hosts, mostAtOnce } = timeline(build)
    console.info(`beside the agent's file, b1 as "ruby" (2 slots), 4 x 2 s, --max-jobs 0: ${build.seconds.toFixed(1)} s, at most ${mostAtOnce} at once on b1`)
    expect(hosts).toEqual(['b1', 'b1', 'b1', 'b1'])
    expect(mostAtOnce).toBe(2)
    // The two that find b1's slots taken wait for one of the run's builds there to end, not for Nix's 5 s poll.
    expect(build.log).toMatch(/buildmesh: \/nix\/store\/\S+-named-\d\.drv: waits for one of this run's builds to end/)
    expect(build.log).not.toMatch(/outside the mesh/)
  })

  it('knows a member that a line names by its ssh configuration\'s Host alias, alone or beside the agent\'s file', async () => {
    const m = lan.host('m')
    // As NixOS's programs.ssh.extraConfig writes it: the builder's address and port are in ssh's
    // configuration, which Nix 2.8's store URIs leave to ssh. The host key goes by the alias.
    const sshConfig = join(m.dir, 'ssh_config')
    await writeFile(sshConfig, `Host kana\n  HostName ${b1.host.address}\n  HostKeyAlias kana\n`)
    await m.run('mount', ['--bind', sshConfig, '/etc/ssh/ssh_config'])
    const kanaLine = `ssh-ng://root@kana x86_64-linux ${master.stateDir}/ssh/id_ed25519 2 1 - - ${b1.sshd.hostKeyBase64}`
    for (const [what, builders] of [['alone', kanaLine], ['beside the agent\'s file', `@${master.nixFile} ; ${kanaLine}`]] as const) {
      const build = await nixBuild(m, await timedJobs(`kana-${what.length}`), ['--max-jobs', '0', '--builders', builders, '-v'])
      const { hosts, mostAtOnce } = timeline(build)
      console.info(`b1 as the ssh alias "kana" (2 slots), ${what}, 4 x 2 s, --max-jobs 0: ${build.seconds.toFixed(1)} s, at most ${mostAtOnce} at once on b1`)
      expect(hosts).toEqual(['b1', 'b1', 'b1', 'b1'])
      expect(mostAtOnce).toBe(2)
      // The agent chose b1 for each, by its address and host key, with no machine outside the mesh.
      expect(build.log.match(new RegExp(`buildmesh: /nix/store/\\S+-kana-\\S+\\.drv: build on ${b1.host.address.replaceAll('.', '\\.')}\\n`, 'g'))).toHaveLength(4)
      expect(build.log).not.toMatch(/outside the mesh|the agent cannot decide/)
    }
  })

  it('mesh build --only b1 waits for b1 while its sshd is down, and builds there once it is back, never on the master', async () => {
    const m = lan.host('m')
    await waitFor(async () => (await peersOf(m)).find((p) => p.name === 'b1')?.eligible === true, { timeoutMs: 20_000, what: 'b1 eligible, its SSH checked' })
    await b1.sshd.process.stop()
    const jobs = await writeJobs(m.dir, `${lan.prefix}-only`, 2, 1)
    const startedAt = performance.now()
    // The master has a free slot and is four times as fast: only the selection keeps the builds off it.
    const running = m.run(process.execPath, [MESH, 'build', '--only', 'b1', '--', 'nix-build', jobs, '--max-jobs', '1', '--no-out-link', '-v'], { timeoutMs: 90_000 })
    try {
      await waitFor(async () => /^SSH check failed/.test((await peersOf(m)).find((p) => p.name === 'b1')?.reason ?? ''), { timeoutMs: 20_000, what: 'b1\'s SSH check failed' })
      // The same sshd again: same host key, same authorized_keys.
      const again = b1.host.spawn('/usr/sbin/sshd', ['-D', '-e', '-f', b1.sshd.configFile])
      await again.waitForOutput(`Server listening on ${b1.host.address} port 22.`)
      const build = await running
      const seconds = (performance.now() - startedAt) / 1000
      const outputs = await Promise.all(build.stdout.split('\n').filter((l) => l !== '').map(async (path) => ({ path, builtOn: (await readFile(m.pathOnMachine(path), 'utf8')).trim() })))
      console.info(`mesh build --only b1, b1's sshd down for a while: ${seconds.toFixed(1)} s, by host: ${JSON.stringify(Object.fromEntries(countByBuilder(outputs)))}`)
      expect(outputs.map((o) => o.builtOn)).toEqual(['b1', 'b1'])
      expect(build.stderr).toMatch(/buildmesh: \/nix\/store\/\S+\.drv: every machine that can build it is busy: later/)
    } finally {
      await running.catch(() => {})
    }
  })
})
