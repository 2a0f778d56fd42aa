import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Host } from './host.ts'
import type { HostProcess } from './host-process.ts'
import { runLocal } from './run.ts'
import { sshdConfig } from '../../support/sshd-config.ts'

export interface SshdOptions {
  /**
   * Public key lines to authorize (written to a file in the host's ssh directory), or the path
   * of an authorized_keys file for sshd to read, which need not exist yet (e.g. one an agent owns).
   */
  authorizedKeys: readonly string[] | string
  /** Default 22. */
  port?: number
}

export interface Sshd {
  process: HostProcess
  address: string
  port: number
  /** `ssh-ed25519 AAAA...`, without a comment. */
  hostKey: string
  /** The host key as the 8th column of a Nix machines file wants it. */
  hostKeyBase64: string
  /** `ADDRESS ssh-ed25519 AAAA...`: a known_hosts line for clients that pin the key. */
  knownHostsLine: string
  hostKeyFile: string
  configFile: string
  authorizedKeysFile: string
  pidFile: string
}

export interface ClientKey {
  privateKeyFile: string
  publicKeyFile: string
  /** `ssh-ed25519 AAAA... COMMENT`, ready for an authorized_keys file. */
  publicKey: string
}

/**
 * Starts a real OpenSSH server in `host`, listening on the host's LAN address, and resolves once
 * it accepts connections. Root may log in with a key. Sessions get sshd's default root PATH,
 * which holds /usr/bin, so Nix's `ssh-ng://` finds `nix-daemon` there.
 */
export async function startSshd (host: Host, options: SshdOptions): Promise<Sshd> {
  const port = options.port ?? 22
  const dir = join(host.dir, 'ssh')
  await mkdir(dir, { recursive: true })
  const hostKeyFile = join(dir, 'ssh_host_ed25519_key')
  await generateKey(hostKeyFile, `${host.name}-host`)
  const hostKey = withoutComment(await readFile(`${hostKeyFile}.pub`, 'utf8'))

  let authorizedKeysFile: string
  if (typeof options.authorizedKeys === 'string') {
    authorizedKeysFile = options.authorizedKeys
  } else {
    authorizedKeysFile = join(dir, 'authorized_keys')
    await writeFile(authorizedKeysFile, options.authorizedKeys.map((line) => `${line.trim()}\n`).join(''))
  }

  const pidFile = join(dir, 'sshd.pid')
  const configFile = join(dir, 'sshd_config')
  await writeFile(configFile, sshdConfig({ address: host.address, port, hostKeyFile, authorizedKeysFile, pidFile }))
  // The privilege separation directory, in the host's own /run.
  await mkdir(host.pathOnMachine('/run/sshd'), { recursive: true, mode: 0o755 })

  // sshd re-executes itself, so it must be started by absolute path.
  const proc = host.spawn('/usr/sbin/sshd', ['-D', '-e', '-f', configFile])
  await proc.waitForOutput(`Server listening on ${host.address} port ${port}.`)
  return {
    process: proc,
    address: host.address,
    port,
    hostKey,
    hostKeyBase64: Buffer.from(hostKey).toString('base64'),
    knownHostsLine: `${port === 22 ? host.address : `[${host.address}]:${port}`} ${hostKey}`,
    hostKeyFile,
    configFile,
    authorizedKeysFile,
    pidFile
  }
}

/** Creates an ed25519 key pair without a passphrase at `dir/name` (mode 0600) and `.pub`. */
export async function makeClientKey (dir: string, name = 'id_ed25519'): Promise<ClientKey> {
  await mkdir(dir, { recursive: true })
  const privateKeyFile = join(dir, name)
  await generateKey(privateKeyFile, `buildmesh-test-${name}`)
  await chmod(privateKeyFile, 0o600)
  const publicKeyFile = `${privateKeyFile}.pub`
  return { privateKeyFile, publicKeyFile, publicKey: (await readFile(publicKeyFile, 'utf8')).trim() }
}

async function generateKey (file: string, comment: string): Promise<void> {
  // ssh-keygen would ask before overwriting; these keys are the test's own.
  await rm(file, { force: true })
  await rm(`${file}.pub`, { force: true })
  await runLocal('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file])
}

function withoutComment (publicKeyLine: string): string {
  return publicKeyLine.trim().split(/\s+/).slice(0, 2).join(' ')
}
