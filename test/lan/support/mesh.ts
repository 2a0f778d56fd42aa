import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { startSshd, type Host, type HostProcess, type Lan, type Sshd } from '../harness/index.ts'
import type { PeerView } from '../../../scheduler/peer.ts'

/**
 * The real `mesh` command as npm links it (running the clone's sources), run by the Node that
 * runs the tests (Node 24 from the packages).
 */
export const MESH = resolve(import.meta.dirname, '../../../bin/mesh.js')

export function spawnMesh (host: Host, args: string[]): HostProcess {
  return host.spawn(process.execPath, [MESH, ...args], { env: { BUILDMESH_SOCKET: undefined } })
}

/**
 * Nix 2.8's `build-hook` is one program path, run with Nix's verbosity as its only argument:
 * a script in the host's directory runs the real `mesh build-hook` with the Node that runs the tests.
 */
export async function writeHookScript (host: Host, name: string, args: string[]): Promise<string> {
  const path = join(host.dir, name)
  await writeFile(path, `#!/bin/sh\nexec '${process.execPath}' '${MESH}' build-hook ${args.map((a) => `'${a}'`).join(' ')} "$@"\n`)
  await chmod(path, 0o755)
  return path
}

export async function runMesh (host: Host, args: string[]): Promise<string> {
  return (await host.run(process.execPath, [MESH, ...args])).stdout
}

export async function peersOf (host: Host): Promise<PeerView[]> {
  return JSON.parse(await runMesh(host, ['peers', '--json'])) as PeerView[]
}

/** A mesh key made by the real `mesh key generate`, in the LAN's directory. */
export async function makeMeshKey (lan: Lan, name = 'mesh.key'): Promise<string> {
  const path = join(lan.dir, name)
  if (await readOr(path) === '') await runMesh(lan.hosts[0]!, ['key', 'generate', path])
  return path
}

/** An SSH host key pair in the host's directory, for agents that advertise without an sshd. */
export async function makeHostKey (host: Host): Promise<{ file: string, publicKey: string }> {
  const file = join(host.dir, 'ssh_host_ed25519_key')
  if (await readOr(`${file}.pub`) === '') await host.run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `host@${host.name}`, '-f', file])
  const publicKey = (await readFile(`${file}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ')
  return { file: `${file}.pub`, publicKey }
}

export interface AgentOptions {
  meshKey: string
  /** Extra flags. */
  args?: string[]
  /** State directory name under the host's directory. */
  state?: string
}

export interface RunningAgent {
  process: HostProcess
  stateDir: string
  stop: () => Promise<unknown>
}

function agentArgs (host: Host, options: AgentOptions): { args: string[], stateDir: string } {
  const stateDir = join(host.dir, options.state ?? 'state')
  return { stateDir, args: ['agent', '--mesh-key', options.meshKey, '--state-dir', stateDir, '--log-level', 'debug', ...(options.args ?? [])] }
}

const sshds = new WeakMap<Host, Sshd>()

/** The host's real sshd, reading the authorized_keys file its builder agent owns; one per host. */
export async function builderSshd (host: Host): Promise<Sshd> {
  const running = sshds.get(host)
  if (running?.process.running === true) return running
  const sshd = await startSshd(host, { authorizedKeys: join(host.dir, 'authorized_keys') })
  sshds.set(host, sshd)
  return sshd
}

/**
 * A builder agent with a real sshd behind it (the master checks that sshd answers with the
 * advertised host key); resolves once it advertises. `hostKeyFile` instead advertises that
 * key and starts no sshd.
 */
export async function startBuilder (host: Host, options: AgentOptions & { hostKeyFile?: string }): Promise<RunningAgent & { publicKey: string }> {
  const key = options.hostKeyFile === undefined
    ? await builderSshd(host).then((sshd) => ({ file: `${sshd.hostKeyFile}.pub`, publicKey: sshd.hostKey }))
    : { file: options.hostKeyFile, publicKey: '' }
  const { args, stateDir } = agentArgs(host, options)
  const ownsSshd = options.hostKeyFile === undefined
  const proc = spawnMesh(host, [...args, '--ssh-host-key', key.file, ...(ownsSshd ? ['--authorized-keys', join(host.dir, 'authorized_keys')] : [])])
  await proc.waitForOutput('"advertising"', { timeoutMs: 15_000 })
  return { process: proc, stateDir, publicKey: key.publicKey, stop: async () => await proc.stop() }
}

/** A master agent (not a builder) writing its lists into the host's directory. */
export async function startMaster (host: Host, options: AgentOptions): Promise<RunningAgent & { nixFile: string, guixFile: string }> {
  const { args, stateDir } = agentArgs(host, options)
  const nixFile = join(host.dir, 'machines')
  const guixFile = join(host.dir, 'machines.scm')
  const proc = spawnMesh(host, [...args, '--master', '--no-builder', '--nix-machines', nixFile, '--guix-machines', guixFile])
  await proc.waitForOutput('"agent started"', { timeoutMs: 15_000 })
  return { process: proc, stateDir, nixFile, guixFile, stop: async () => await proc.stop() }
}

/** The builder lines of a Nix machines file, split into columns. */
export async function nixLines (path: string): Promise<string[][]> {
  return (await readOr(path)).split('\n').filter((l) => l !== '').map((l) => l.split(' '))
}

/**
 * Gives the host its own /proc/loadavg, so a test can set the load the agent reads. The
 * agent's code path is the real one; only the kernel's number is replaced.
 */
export async function fakeLoadavg (host: Host, oneMinute: number): Promise<(oneMinute: number) => Promise<void>> {
  const file = join(host.dir, 'loadavg')
  const set = async (value: number): Promise<void> => {
    await writeFile(file, `${value.toFixed(2)} ${value.toFixed(2)} ${value.toFixed(2)} 1/100 1\n`)
  }
  await set(oneMinute)
  await host.run('mount', ['--bind', file, '/proc/loadavg'])
  return set
}

export async function readOr (path: string, fallback = ''): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return fallback
  }
}
