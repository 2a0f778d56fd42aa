import { chown, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Host } from '../harness/host.ts'
import type { HostProcess } from '../harness/host-process.ts'
import { builderSshd, MESH } from './mesh.ts'

/*
 * Real faults on builder hosts, for `mesh test` and `mesh status`: each changes only the host
 * it is given (its own mounts, its own sshd, its own processes).
 */

const SKEWED_CLOCK = resolve(import.meta.dirname, 'skewed-clock.ts')

/** A user that exists only inside one host: a copy of /etc/passwd bind-mounted over it there. */
export const BUILD_USER = { name: 'bmbuild', uid: 64123 }

export async function addBuildUser (host: Host): Promise<void> {
  const home = join(host.dir, BUILD_USER.name)
  await mkdir(home, { recursive: true })
  await chown(home, BUILD_USER.uid, BUILD_USER.uid)
  const passwd = join(host.dir, 'passwd')
  await writeFile(passwd, `${await readFile('/etc/passwd', 'utf8')}${BUILD_USER.name}:x:${BUILD_USER.uid}:${BUILD_USER.uid}::${home}:/bin/sh\n`)
  await host.run('mount', ['--bind', passwd, '/etc/passwd'])
  // sshd reads the user's authorized_keys as that user; the agent keeps the owner it finds.
  const keys = join(host.dir, 'authorized_keys')
  await writeFile(keys, '', { mode: 0o600 })
  await chown(keys, BUILD_USER.uid, BUILD_USER.uid)
}

/** A multi-user Nix: the root daemon that a non-root build user's sessions go through. */
export async function startNixDaemon (host: Host): Promise<HostProcess> {
  const daemon = host.spawn('nix-daemon', [])
  await host.run('sh', ['-c', 'for i in $(seq 50); do [ -S /nix/var/nix/daemon-socket/socket ] && exit 0; sleep 0.1; done; exit 1'])
  return daemon
}

/**
 * What a Nix installed under /nix/var/nix/profiles looks like to sshd's non-interactive
 * sessions: nix-daemon is not on their PATH. sshd rereads its config on SIGHUP.
 */
export async function hideNixFromSshSessions (host: Host): Promise<void> {
  const sshd = await builderSshd(host)
  await writeFile(sshd.configFile, `${await readFile(sshd.configFile, 'utf8')}SetEnv PATH=/usr/local/sbin:/usr/local/bin\n`)
  sshd.process.kill('SIGHUP')
  await sshd.process.waitForOutput(/Received SIGHUP; restarting\.[\s\S]*Server listening on/)
}

/** A new host key, as after a reinstall: sshd restarts with it, the running agent still reports the old one. */
export async function regenerateHostKey (host: Host): Promise<void> {
  await (await builderSshd(host)).process.stop()
  await builderSshd(host)
}

/** A store filesystem with less room than a master asks for: a small tmpfs over the host's /nix. */
export async function mountSmallStore (host: Host, mebibytes: number): Promise<void> {
  await host.sh(`mount -t tmpfs -o size=${mebibytes}m buildmesh-small-store /nix && mkdir -p /nix/store`)
}

/**
 * A builder agent whose clock runs `skewMs` ahead, in front of the host's real sshd: as
 * startBuilder in mesh.ts, with the agent's time source moved (skewed-clock.ts).
 */
export async function startSkewedBuilder (host: Host, meshKey: string, skewMs: number): Promise<HostProcess> {
  const sshd = await builderSshd(host)
  const agent = host.spawn(process.execPath, [
    '--import', SKEWED_CLOCK, MESH, 'agent', '--mesh-key', meshKey, '--state-dir', join(host.dir, 'state'), '--log-level', 'debug',
    '--ssh-host-key', `${sshd.hostKeyFile}.pub`, '--authorized-keys', join(host.dir, 'authorized_keys')
  ], { env: { BUILDMESH_SOCKET: undefined, BUILDMESH_TEST_CLOCK_SKEW_MS: String(skewMs) } })
  await agent.waitForOutput('"advertising"', { timeoutMs: 15_000 })
  return agent
}
