import type { CopyFacts } from './store-copy.ts'
import { fingerprint, NO_PINNED_KEY_TYPE, type SshFacts, type SshTarget } from './ssh-probe.ts'

export type StepId = 'reachable' | 'host-key' | 'login' | 'daemon' | 'trusted' | 'copy' | 'disk'
export type StepStatus = 'pass' | 'fail' | 'skip'

export interface StepResult {
  step: StepId
  title: string
  status: StepStatus
  /** What was found, in words. */
  detail: string
  /** For a failure: what to do about it, in one sentence. */
  advice: string | null
}

/** What `mesh test` checks, in order: each needs the ones before it, except free disk. */
export const STEP_TITLES: Record<StepId, string> = {
  reachable: 'SSH reachable',
  'host-key': 'host key matches the pinned one',
  login: 'login with the master\'s key',
  daemon: 'store daemon answers',
  trusted: 'SSH user trusted by the store',
  copy: 'store path copies there and back',
  disk: 'free disk over the threshold'
}

export interface CheckTarget extends SshTarget {
  name: string
  /** From the builder's last status. */
  freeDiskBytes: number
}

export interface JudgeOptions {
  /** Below this, the master does not list the builder (EligibilityPolicy.minFreeDiskBytes). */
  minFreeDiskBytes: number
}

const MiB = 1024 * 1024

export function formatBytes (bytes: number): string {
  return bytes >= 1024 * MiB ? `${(bytes / (1024 * MiB)).toFixed(1)} GiB` : `${Math.floor(bytes / MiB)} MiB`
}

function lastLine (text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').at(-1) ?? ''
}

const pass = (step: StepId, detail: string): StepResult => ({ step, title: STEP_TITLES[step], status: 'pass', detail, advice: null })
const fail = (step: StepId, detail: string, advice: string): StepResult => ({ step, title: STEP_TITLES[step], status: 'fail', detail, advice })

function diskAdvice (): string {
  return 'Free space on the builder\'s store (nix-collect-garbage there) or give its /nix a bigger filesystem.'
}

function trustAdvice (user: string): string {
  return `Add ${user} to trusted-users in the builder's nix.conf and restart its nix-daemon: Nix refuses unsigned inputs and input-addressed builds from other users.`
}

function reachable (t: CheckTarget, ssh: SshFacts): StepResult {
  const where = `${t.host}:${t.port}`
  const error = ssh.connectError
  if (error === null || error.code === NO_PINNED_KEY_TYPE) return pass('reachable', `sshd answers at ${where}`)
  const detail = error.code === 'ECONNREFUSED'
    ? `nothing listens on ${where} (connection refused)`
    : error.code === 'EHOSTUNREACH' || error.code === 'ENETUNREACH'
      ? `${t.host} is unreachable (${error.code})`
      : error.code === 'ETIMEDOUT' ? `no answer from ${where} in time` : `${where}: ${error.message}`
  return fail('reachable', detail, `Start sshd on the builder (or give its agent the right --ssh-port) and make sure this master can reach ${where}.`)
}

function hostKey (t: CheckTarget, offered: string | null): StepResult {
  if (offered === null) {
    return fail('host-key', `sshd at ${t.host}:${t.port} holds no ${t.hostKey?.split(' ')[0] ?? ''} host key, which is the type the builder's agent reported`,
      `Point the builder's agent's --ssh-host-key at a public key sshd serves (HostKey in sshd_config), or find out what else answers at ${t.host}:${t.port}.`)
  }
  if (t.hostKey === null) {
    return fail('host-key', `the builder reported no host key to pin (sshd offers ${fingerprint(offered)})`, 'Give the builder\'s agent --ssh-host-key naming the public host key file of its sshd.')
  }
  if (offered !== t.hostKey) {
    return fail('host-key', `sshd at ${t.host}:${t.port} offers ${fingerprint(offered)}, but the builder's agent reported ${fingerprint(t.hostKey)}`,
      `If the builder's host key was changed on purpose, restart its agent so that it reports the new one; otherwise find out what else answers at ${t.host}:${t.port}.`)
  }
  return pass('host-key', `${offered.split(' ')[0] ?? ''} ${fingerprint(offered)}`)
}

function login (t: CheckTarget, ssh: SshFacts): StepResult {
  if (ssh.loggedIn) return pass('login', `logged in as ${t.user}`)
  return fail('login', `sshd refused this master's key for ${t.user} (${ssh.loginError ?? 'no reason given'})`,
    `Let the builder's agent add this master's key again: restart it with --authorized-keys naming a file that sshd_config's AuthorizedKeysFile reads for ${t.user}.`)
}

function daemon (t: CheckTarget, facts: NonNullable<SshFacts['daemon']>): StepResult {
  if (facts.hello !== null) return pass('daemon', `Nix ${facts.hello.nixVersion ?? '(version not sent)'} daemon, protocol ${facts.hello.protocol}`)
  const failure = facts.failure ?? { reason: 'protocol', message: 'no answer', exitCode: null, stderr: '' }
  const said = lastLine(failure.stderr)
  // What the remote command printed in place of the protocol says more than its stderr.
  const quoted = failure.reason === 'not-daemon' || said === '' ? failure.message : `"${said}"`
  if (failure.reason === 'timeout') {
    return fail('daemon', 'no answer from the store daemon in time', 'Look at the builder\'s load and nix-daemon: a daemon that cannot open its store hangs like this.')
  }
  if (failure.exitCode === 127 || /nix-daemon: (command )?not found/.test(failure.stderr)) {
    return fail('daemon', `nix-daemon is not on ${t.user}'s PATH there: ${quoted}`,
      `Put nix-daemon on the PATH that sshd gives ${t.user}'s non-interactive sessions on the builder (link it into /usr/local/bin, or set PATH with SetEnv in sshd_config).`)
  }
  if (/account is currently not available/.test(failure.message + failure.stderr)) {
    return fail('daemon', `${t.user} has no login shell on the builder: ${quoted}`, `Give ${t.user} a login shell on the builder: sshd runs the forced command through it.`)
  }
  if (failure.reason === 'not-daemon' || /protocol mismatch/.test(failure.stderr)) {
    return fail('daemon', `sshd runs another command than nix-daemon --stdio for this master's key: ${quoted}`,
      'Widen this master\'s line in the builder\'s authorized_keys to restrict,command="nix-daemon --stdio": the builder lists use ssh-ng://, which speaks to the store daemon.')
  }
  if (/No space left on device/.test(failure.stderr)) return fail('daemon', `the builder's store is full: ${quoted}`, diskAdvice())
  if (/Permission denied|cannot connect to socket|Connection refused/.test(failure.stderr)) {
    return fail('daemon', `${t.user} cannot open the builder's store, and no nix-daemon let it in: ${quoted}`,
      `Start the builder's nix-daemon (systemctl start nix-daemon): sessions of ${t.user}, which does not own the store, go through it.`)
  }
  return fail('daemon', `nix-daemon --stdio failed for ${t.user}${failure.exitCode === null ? '' : ` (exit ${failure.exitCode})`}: ${quoted}`,
    'Read the builder\'s sshd and nix-daemon logs for why the daemon does not start for this user.')
}

function trusted (t: CheckTarget, facts: NonNullable<SshFacts['daemon']>): StepResult {
  if (facts.trusted === true) return pass('trusted', `${t.user} is a trusted user of the builder's store`)
  if (facts.trusted === false) return fail('trusted', `the builder's nix-daemon does not trust ${t.user}`, trustAdvice(t.user))
  return fail('trusted', `the daemon failed while asked: ${facts.trustError ?? 'no answer'}`, 'Read the builder\'s nix-daemon log for why it fails a settings request.')
}

function copy (t: CheckTarget, facts: CopyFacts): StepResult {
  if (facts.failedAt === null) return pass('copy', `${facts.path ?? ''} went there and came back`)
  const error = facts.error ?? 'no reason given'
  if (facts.failedAt === 'add') {
    return fail('copy', `this master could not add a file to its own store: ${error}`, facts.missingCommand
      ? 'Install Nix on this master, or run mesh test with nix and nix-store on its PATH.'
      : 'Run mesh test as the agent\'s user on this master, with its Nix store writable or its nix-daemon running.')
  }
  const detail = facts.failedAt === 'to' ? `copying ${facts.path ?? 'it'} to the builder failed: ${error}` : `copying it back failed: ${error}`
  if (facts.missingCommand) return fail('copy', detail, 'Install Nix on this master, or run mesh test with nix on its PATH.')
  if (/No space left on device/.test(error)) return fail('copy', detail, diskAdvice())
  if (/signature/.test(error)) return fail('copy', detail, trustAdvice(t.user))
  return fail('copy', detail, `Run nix copy --to ssh-ng://${t.user}@${t.host} by hand on this master to see the whole story.`)
}

function disk (t: CheckTarget, options: JudgeOptions): StepResult {
  const needs = `needs ${formatBytes(options.minFreeDiskBytes)}`
  if (t.freeDiskBytes >= options.minFreeDiskBytes) return pass('disk', `${formatBytes(t.freeDiskBytes)} free on the builder's store (${needs})`)
  return fail('disk', `only ${formatBytes(t.freeDiskBytes)} free on the builder's store (${needs})`, diskAdvice())
}

/**
 * One line per step from what the SSH session and the copy found. A step whose prerequisite
 * failed is skipped, naming the failure; free disk comes from the status stream and is judged
 * whatever SSH did.
 */
export function judge (target: CheckTarget, ssh: SshFacts, copied: CopyFacts | null, options: JudgeOptions): StepResult[] {
  const steps: StepResult[] = []
  let blocker: StepResult | null = null
  const add = (step: StepId, result: () => StepResult | null): void => {
    const found = blocker === null ? result() : null
    if (found === null) {
      steps.push({ step, title: STEP_TITLES[step], status: 'skip', detail: `not tried, since "${blocker?.title ?? 'an earlier step'}" failed`, advice: null })
      return
    }
    steps.push(found)
    // Trust only decides what a build may do there: the copy still shows whether paths get through.
    if (found.status === 'fail' && step !== 'trusted') blocker = found
  }
  add('reachable', () => reachable(target, ssh))
  add('host-key', () => ssh.offeredKey === null && ssh.connectError?.code !== NO_PINNED_KEY_TYPE ? null : hostKey(target, ssh.offeredKey))
  add('login', () => login(target, ssh))
  add('daemon', () => ssh.daemon === null ? null : daemon(target, ssh.daemon))
  add('trusted', () => ssh.daemon === null ? null : trusted(target, ssh.daemon))
  add('copy', () => copied === null ? null : copy(target, copied))
  steps.push(disk(target, options))
  return steps
}
