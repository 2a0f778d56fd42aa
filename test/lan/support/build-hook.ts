import { appendFile, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { waitFor, type Host, type Lan } from '../harness/index.ts'
import { fakeLoadavg, makeHostKey, makeMeshKey, nixLines, spawnMesh, writeHookScript, type RunningAgent } from './mesh.ts'
import { countByBuilder, startMeshBuilder, type BuiltOutput, type MeshBuilder } from './offload.ts'

/**
 * A master agent that also builds, as an ordinary host would run it: no --no-builder. Its Nix
 * machines file is in the host's directory; its control socket is the default one in the host's
 * own /run, where the hook finds it.
 */
export async function startBuildingMaster (host: Host, meshKey: string, args: string[]): Promise<RunningAgent & { nixFile: string }> {
  const stateDir = join(host.dir, 'state')
  const nixFile = join(host.dir, 'machines')
  const key = await makeHostKey(host)
  const proc = spawnMesh(host, [
    'agent', '--master', '--mesh-key', meshKey, '--state-dir', stateDir, '--log-level', 'debug',
    '--nix-machines', nixFile, '--guix-machines', join(host.dir, 'machines.scm'), '--ssh-host-key', key.file, ...args
  ])
  await proc.waitForOutput('"agent started"', { timeoutMs: 15_000 })
  return { process: proc, stateDir, nixFile, stop: async () => await proc.stop() }
}

/** Makes the real `mesh build-hook`, deciding with the master's agent, the build hook of the host's Nix. */
export async function useMeshBuildHook (host: Host, nixFile: string): Promise<void> {
  const hook = await writeHookScript(host, 'mesh-build-hook', ['--nix-machines', nixFile])
  await appendFile(host.pathOnMachine('/etc/nix/nix.conf'), `build-hook = ${hook}\n`)
}

export type BuildingMaster = Awaited<ReturnType<typeof startBuildingMaster>>

type StartedMesh = { master: BuildingMaster, builders: MeshBuilder[], masterKey: string }

/**
 * A master (host m) that builds too, and its builders, each listed in the master's Nix file with
 * the master's SSH key let in. The hosts share the machine's load average; each gets a quiet one
 * of its own, so the decisions follow slots and speed, not whatever else this machine is running.
 */
export async function startBuildMesh (lan: Lan, masterArgs: string[], builders: Array<{ name: string, speed: number, slots: number }>): Promise<StartedMesh> {
  const meshKey = await makeMeshKey(lan)
  for (const host of lan.hosts) await fakeLoadavg(host, 0.1)
  const master = await startBuildingMaster(lan.host('m'), meshKey, masterArgs)
  const started = await Promise.all(builders.map(async ({ name, speed, slots }) => await startMeshBuilder(lan.host(name), { meshKey, slots, speed })))
  await waitFor(async () => (await nixLines(master.nixFile)).length === builders.length, { timeoutMs: 10_000, intervalMs: 50, what: 'the builders in the master\'s Nix file' })
  const masterKey = (await readFile(`${master.stateDir}/ssh/id_ed25519.pub`, 'utf8')).trim()
  const pinned = masterKey.split(' ').slice(0, 2).join(' ')
  for (const b of started) {
    await waitFor(async () => (await readFile(b.authorizedKeys, 'utf8').catch(() => '')).includes(pinned), { what: `the master's key in ${b.host.name}'s authorized_keys` })
  }
  return { master, builders: started, masterKey }
}

/** Where the build hook's tests start: startBuildMesh's, with `mesh build-hook` as the master's Nix's hook. */
export async function startHookedMesh (lan: Lan, masterArgs: string[], builders: Array<{ name: string, speed: number, slots: number }>): Promise<StartedMesh> {
  const mesh = await startBuildMesh(lan, masterArgs, builders)
  await useMeshBuildHook(lan.host('m'), mesh.master.nixFile)
  return mesh
}

export interface Build {
  outputs: BuiltOutput[]
  counts: Map<string, number>
  seconds: number
  log: string
}

/** A real nix-build in the host; each output holds the name of the host that built it. */
export async function nixBuild (host: Host, file: string, args: string[], env: Record<string, string> = {}): Promise<Build> {
  const startedAt = performance.now()
  const result = await host.run('nix-build', [file, '--no-out-link', ...args], { timeoutMs: 100_000, env })
  const seconds = (performance.now() - startedAt) / 1000
  const paths = result.stdout.split('\n').filter((l) => l !== '')
  const outputs = await Promise.all(paths.map(async (path) => ({ path, builtOn: (await readFile(host.pathOnMachine(path), 'utf8')).trim() })))
  return { outputs, counts: countByBuilder(outputs), seconds, log: result.stderr }
}

export const summary = (b: Build): string => `${b.seconds.toFixed(1)} s, by host: ${JSON.stringify(Object.fromEntries([...b.counts].sort()))}`
