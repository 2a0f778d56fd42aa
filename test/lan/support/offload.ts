import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Host } from '../harness/host.ts'
import { startSshd, type Sshd } from '../harness/sshd.ts'
import { startBuilder, type RunningAgent } from './mesh.ts'

/*
 * Helpers for offloading real Nix builds through the mesh: builder hosts with a real sshd that
 * reads the authorized_keys file the builder agent owns, a batch of independent derivations,
 * and a timed `nix-build` on the master. Imported by tests and by bench/offload.ts, so nothing
 * here may import vitest.
 */

export interface MeshBuilder {
  host: Host
  sshd: Sshd
  agent: RunningAgent
  /** The file the agent writes masters' keys into and sshd reads. */
  authorizedKeys: string
  /** When the agent was spawned (ms since the epoch). */
  spawnedAt: number
}

export interface MeshBuilderOptions {
  meshKey: string
  slots: number
  /** State directory name under the host's directory. */
  state?: string
  /** The speed it advertises instead of the one it measures. */
  speed?: number
}

/**
 * sshd first (a fresh host key, and the agent's authorized_keys path, which need not exist yet),
 * then the builder agent advertising that very host key. Nothing but the mesh key is shared.
 */
export async function startMeshBuilder (host: Host, options: MeshBuilderOptions): Promise<MeshBuilder> {
  const state = options.state ?? 'state'
  const authorizedKeys = join(host.dir, state, 'authorized_keys')
  const sshd = await startSshd(host, { authorizedKeys })
  const spawnedAt = Date.now()
  const agent = await startBuilder(host, {
    meshKey: options.meshKey,
    state,
    hostKeyFile: `${sshd.hostKeyFile}.pub`,
    args: ['--slots', String(options.slots), '--authorized-keys', authorizedKeys, ...(options.speed === undefined ? [] : ['--speed', String(options.speed)])]
  })
  return { host, sshd, agent, authorizedKeys, spawnedAt }
}

/**
 * A Nix file of `count` independent derivations, each sleeping `seconds` and writing the host
 * name of the machine that built it. `tag` goes into every derivation and its name, so a new tag
 * means nothing is cached from an earlier run and the master has no history of these names
 * (they sleep: their time does not scale with a machine's speed as real work does).
 * No nixpkgs: only /bin/sh and /bin/sleep.
 */
export function jobsExpression (tag: string, count: number, seconds = 2, system = 'x86_64-linux'): string {
  if (!/^[A-Za-z0-9._-]+$/.test(tag)) throw new Error(`tag ${JSON.stringify(tag)} must be letters, digits, . _ -`)
  return `builtins.genList (n: derivation {
  name = "${tag}-job-\${toString (n + 1)}";
  system = "${system}";
  builder = "/bin/sh";
  args = [ "-c" "read h < /proc/sys/kernel/hostname; /bin/sleep ${seconds}; echo $h > $out" ];
  tag = "${tag}";
}) ${count}
`
}

export async function writeJobs (dir: string, tag: string, count: number, seconds = 2, system?: string): Promise<string> {
  const file = join(dir, `jobs-${tag}.nix`)
  await writeFile(file, jobsExpression(tag, count, seconds, system))
  return file
}

export interface BuiltOutput {
  /** Store path as the master sees it. */
  path: string
  /** What the build wrote: the host name of the machine that ran it. */
  builtOn: string
}

export interface BuildResult {
  outputs: BuiltOutput[]
  seconds: number
  /** nix-build's stderr: which machine each derivation was built on. */
  log: string
}

/**
 * `nix-build FILE --max-jobs 0 --builders @MACHINES --no-out-link` as root in the master host:
 * every derivation must be built remotely. Resolves with the outputs, read from the master's own
 * store, and the wall time.
 */
export async function buildOnMesh (master: Host, file: string, machinesFile: string, timeoutMs = 90_000, args: string[] = []): Promise<BuildResult> {
  const startedAt = performance.now()
  const result = await master.run('nix-build', [file, '--max-jobs', '0', '--builders', `@${machinesFile}`, '--no-out-link', ...args], { timeoutMs })
  const seconds = (performance.now() - startedAt) / 1000
  const paths = result.stdout.split('\n').filter((l) => l !== '')
  const outputs = await Promise.all(paths.map(async (path) => ({
    path,
    builtOn: (await readFile(master.pathOnMachine(path), 'utf8')).trim()
  })))
  return { outputs, seconds, log: result.stderr }
}

/** How many outputs each machine built, by host name. */
export function countByBuilder (outputs: BuiltOutput[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const { builtOn } of outputs) counts.set(builtOn, (counts.get(builtOn) ?? 0) + 1)
  return counts
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : ((sorted[mid - 1]! + sorted[mid]!) / 2)
}
