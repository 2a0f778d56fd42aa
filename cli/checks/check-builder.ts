import type { PeerView } from '../../scheduler/peer.ts'
import { judge, type CheckTarget, type StepResult } from './judge.ts'
import type { CopyFacts } from './store-copy.ts'
import type { SshFacts, SshTarget } from './ssh-probe.ts'

/** One builder's verdict, as `mesh test --json` prints it. */
export interface PeerCheck {
  name: string
  host: string
  port: number
  user: string
  passed: boolean
  steps: StepResult[]
}

export interface CheckDeps {
  probeSsh: (target: SshTarget, privateKey: Buffer, signal: AbortSignal) => Promise<SshFacts>
  copyRoundTrip: (target: SshTarget & { hostKey: string }, signal: AbortSignal) => Promise<CopyFacts>
}

export interface CheckOptions {
  privateKey: Buffer
  /** For each builder, for everything: SSH, the daemon and both copies. */
  timeoutMs: number
  minFreeDiskBytes: number
}

/**
 * The builder as the master's lists would name it: IPv4 first (what Nix and Guix parse without
 * brackets), the user, port and pinned host key from its status. Null for a peer that sent no
 * usable advertisement.
 */
export function checkTarget (view: PeerView): CheckTarget | null {
  const host = view.addresses.find((a) => !a.includes(':')) ?? view.addresses[0]
  if (host === undefined || view.sshUser === null || view.sshPort === null) return null
  return { name: view.name, host, port: view.sshPort, user: view.sshUser, hostKey: view.hostKey, freeDiskBytes: view.freeDiskBytes }
}

export async function checkBuilder (target: CheckTarget, deps: CheckDeps, options: CheckOptions): Promise<PeerCheck> {
  const signal = AbortSignal.timeout(options.timeoutMs)
  const ssh = await deps.probeSsh(target, options.privateKey, signal)
  // Nix copies only to a daemon that answered, through the very key and host key just checked.
  const pinned = target.hostKey
  const copied = ssh.daemon !== null && ssh.daemon.hello !== null && pinned !== null ? await deps.copyRoundTrip({ ...target, hostKey: pinned }, signal) : null
  const steps = judge(target, ssh, copied, { minFreeDiskBytes: options.minFreeDiskBytes })
  return { name: target.name, host: target.host, port: target.port, user: target.user, passed: steps.every((s) => s.status === 'pass'), steps }
}

/** Every builder at once: one slow or dead builder costs the run its timeout, not one each. */
export async function checkBuilders (targets: CheckTarget[], deps: CheckDeps, options: CheckOptions): Promise<PeerCheck[]> {
  const checks = await Promise.all(targets.map(async (t) => await checkBuilder(t, deps, options)))
  return checks.sort((a, b) => a.name.localeCompare(b.name))
}
