import { createHash } from 'node:crypto'
import { Client, type ClientChannel, type ServerHostKeyAlgorithm } from 'ssh2'
import { NIX_FORCED_COMMAND } from '../../agent/authorized-keys.ts'
import { NixDaemonClient, NixDaemonError, type DaemonHello } from './nix-daemon-client.ts'

/** A builder as the master's lists describe it: where to log in and the host key they pin. */
export interface SshTarget {
  host: string
  port: number
  user: string
  /** `ssh-ed25519 AAAA...` from the builder's status, or null when it reported none. */
  hostKey: string | null
}

/** What one SSH session to a builder found, as far as it got; see judge.ts for what it means. */
export interface SshFacts {
  /** Why no SSH server answered, or null when one did. */
  connectError: { code: string | null, message: string } | null
  /** The host key the server proved it holds (`TYPE BASE64`), or null before key exchange. */
  offeredKey: string | null
  /** Why the server refused the master's key; null when it let it in, or it was not tried. */
  loginError: string | null
  loggedIn: boolean
  /** The store daemon's answer, or null when login did not get that far. */
  daemon: DaemonFacts | null
}

export interface DaemonFacts {
  hello: DaemonHello | null
  /** Why the handshake failed, with what the remote command said and how it ended. */
  failure: { reason: NixDaemonError['reason'] | 'timeout', message: string, exitCode: number | null, stderr: string } | null
  /** Null when not asked (no handshake) or when asking failed (`trustError`). */
  trusted: boolean | null
  trustError: string | null
}

/** `connectError.code` of an sshd that holds no host key of the pinned key's type. */
export const NO_PINNED_KEY_TYPE = 'ENOPINNEDKEYTYPE'
const MAX_STDERR = 4096
/** How long to wait for the exit status and last stderr of a remote command that hung up. */
const EXIT_GRACE_MS = 1000

/** What `ssh-keygen -l` shows for an OpenSSH public key line. */
export function fingerprint (key: string): string {
  const blob = Buffer.from(key.split(' ')[1] ?? '', 'base64')
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** Only the pinned key's own algorithms, so a server with several host keys shows the pinned one. */
function hostKeyAlgorithms (hostKey: string): ServerHostKeyAlgorithm[] {
  const type = hostKey.split(' ')[0] ?? ''
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type as ServerHostKeyAlgorithm]
}

function keyLine (blob: Buffer): string {
  const typeLength = blob.length >= 4 ? blob.readUInt32BE(0) : 0
  return `${blob.subarray(4, 4 + typeLength).toString('latin1')} ${blob.toString('base64')}`
}

/**
 * Logs in to the builder the way Nix's `ssh-ng://` does (the pinned host key, the master's key)
 * and asks its store daemon for a handshake and whether it trusts the user. It never throws:
 * it records how far it got. With `restrict,command="nix-daemon --stdio"` sshd runs the daemon
 * whatever command is asked for; asking for that very command works without the restriction too.
 */
export async function probeSsh (target: SshTarget, privateKey: Buffer, signal: AbortSignal): Promise<SshFacts> {
  const facts: SshFacts = { connectError: null, offeredKey: null, loginError: null, loggedIn: false, daemon: null }
  const pinned = target.hostKey === null ? null : Buffer.from(target.hostKey.split(' ')[1] ?? '', 'base64')
  const client = new Client()
  let settled = false
  const ready = new Promise<boolean>((resolve) => {
    const fail = (err: Error & { code?: string }): void => {
      if (settled) return
      settled = true
      // An sshd without a key of the pinned type fails key exchange: it answered, with another key.
      const otherKeyType = /no matching host key format/.test(err.message) ? NO_PINNED_KEY_TYPE : null
      if (facts.offeredKey === null) facts.connectError = { code: err.code ?? otherKeyType, message: err.message }
      else if (pinned !== null && facts.offeredKey === keyLine(pinned)) facts.loginError = err.message
      resolve(false)
    }
    client.once('ready', () => { settled = true; resolve(true) })
    client.on('error', fail)
    signal.addEventListener('abort', () => { fail(Object.assign(new Error('no answer in time'), { code: 'ETIMEDOUT' })) }, { once: true })
  })
  try {
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      readyTimeout: 3_600_000, // the caller's signal is the deadline
      privateKey,
      authHandler: ['publickey'],
      hostVerifier: (key: Buffer) => {
        facts.offeredKey = keyLine(key)
        return pinned !== null && key.equals(pinned)
      },
      ...(target.hostKey === null ? {} : { algorithms: { serverHostKey: hostKeyAlgorithms(target.hostKey) } })
    })
  } catch (err) {
    // ssh2 throws at once on a key it cannot parse: record it like any failure to get through.
    settled = true
    facts.connectError = { code: null, message: (err as Error).message }
    return facts
  }
  try {
    facts.loggedIn = await ready
    if (facts.loggedIn) facts.daemon = await askDaemon(client, signal)
  } finally {
    client.removeAllListeners()
    client.on('error', () => {})
    // A connection still trying to get through when time ran out is cut, not closed politely.
    if (signal.aborted) client.destroy()
    else client.end()
  }
  return facts
}

async function askDaemon (client: Client, signal: AbortSignal): Promise<DaemonFacts> {
  const daemon: DaemonFacts = { hello: null, failure: null, trusted: null, trustError: null }
  const channel = await new Promise<ClientChannel | Error>((resolve) => {
    client.exec(NIX_FORCED_COMMAND, (err, ch) => { resolve(err ?? ch) })
  })
  if (channel instanceof Error) {
    daemon.failure = { reason: 'ended', message: `the builder's sshd refused to run a command: ${channel.message}`, exitCode: null, stderr: '' }
    return daemon
  }
  let stderr = ''
  channel.stderr.on('data', (chunk: Buffer) => { if (stderr.length < MAX_STDERR) stderr += chunk.toString('utf8') })
  let exitCode: number | null = null
  const closed = new Promise<void>((resolve) => {
    channel.on('exit', (code: number | null) => { exitCode = code })
    channel.once('close', () => { resolve() })
  })
  const timedOut = new Promise<never>((_resolve, reject) => {
    const abort = (): void => { reject(new NixDaemonError('ended', 'no answer in time')) }
    if (signal.aborted) abort()
    else signal.addEventListener('abort', abort, { once: true })
  })
  timedOut.catch(() => {})
  const nix = new NixDaemonClient(channel, channel)
  try {
    daemon.hello = await Promise.race([nix.handshake(), timedOut])
  } catch (err) {
    // The remote command's last words explain a hang-up: "nix-daemon: not found", for one.
    if (!signal.aborted) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([closed, new Promise((resolve) => { timer = setTimeout(resolve, EXIT_GRACE_MS) })])
      clearTimeout(timer)
    }
    const reason = signal.aborted ? 'timeout' : err instanceof NixDaemonError ? err.reason : 'protocol'
    daemon.failure = { reason, message: (err as Error).message, exitCode, stderr: stderr.trim() }
    return daemon
  }
  try {
    daemon.trusted = await Promise.race([nix.isTrusted(), timedOut])
  } catch (err) {
    daemon.trustError = signal.aborted ? 'no answer in time' : (err as Error).message
  } finally {
    channel.end()
  }
  return daemon
}
