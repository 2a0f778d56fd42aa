import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { currentAdvertisement } from './eligibility.ts'
import type { Peer } from './peer.ts'
import type { PeerTable } from './peer-table.ts'
import type { SshHandshakeResult } from './ssh-handshake.ts'

export type SshCheck = (host: string, port: number, hostKey: string) => Promise<SshHandshakeResult>

export interface SshReachabilityComponents {
  table: PeerTable
  clock: Clock
  log: Logger
  check: SshCheck
}

export interface SshReachabilityInit {
  /** How often a builder that passed is checked again. */
  recheckMs?: number
  /** First wait after a failure; doubles with each further failure... */
  minBackoffMs?: number
  /** ...up to this, so a repaired builder is back within a few minutes. */
  maxBackoffMs?: number
}

interface Target { host: string, port: number, hostKey: string }

/**
 * Checks that each verified builder's sshd answers, with the host key the lists pin, before
 * Nix has to find out mid-build. A builder that fails is left out and checked again after a
 * growing wait, instead of being retried by Nix for every derivation.
 */
export class SshReachability {
  private readonly components: SshReachabilityComponents
  private readonly init: Required<SshReachabilityInit>
  private readonly targets = new Map<string, string>()
  /** The checks running now, by builder. */
  private readonly checking = new Map<string, Promise<void>>()
  /** When `checkNow` last checked each builder. */
  private readonly checkedNowAt = new Map<string, number>()
  /** The builders `checkNow` is checking. */
  private readonly suspects = new Set<string>()
  private timer: unknown
  private readonly onChange = (): void => { this.tick() }

  constructor (components: SshReachabilityComponents, init: SshReachabilityInit = {}) {
    this.components = components
    this.init = { recheckMs: 60_000, minBackoffMs: 5000, maxBackoffMs: 300_000, ...init }
  }

  start (): void {
    if (this.timer !== undefined) return
    this.components.table.on('change', this.onChange)
    this.timer = this.components.clock.setInterval(() => { this.tick() }, 1000)
  }

  stop (): void {
    if (this.timer === undefined) return
    this.components.table.removeListener('change', this.onChange)
    this.components.clock.clearInterval(this.timer)
    this.timer = undefined
  }

  /**
   * Nix's own hook could not build on this builder (`BuildPlanner.release`): its sshd may have
   * gone while its agent still streams status. Checks it now rather than at the next recheck, a
   * minute away, so the agent does not pick it for every build meanwhile; resolves once the
   * check, or the one already running, is done and in the table. At most once per
   * `minBackoffMs`: a builder whose slots another Nix took passes each time.
   */
  async checkNow (key: string): Promise<void> {
    const running = this.checking.get(key)
    if (running !== undefined) return await running
    if (this.timer === undefined) return
    const peer = this.components.table.get(key)
    const target = peer === undefined ? undefined : targetOf(peer)
    if (target === undefined || this.targets.get(key) !== JSON.stringify(target)) return
    const now = this.components.clock.now()
    if (now < (this.checkedNowAt.get(key) ?? -Infinity) + this.init.minBackoffMs) return
    this.checkedNowAt.set(key, now)
    this.suspects.add(key)
    try {
      await this.run(key, target)
    } finally {
      this.suspects.delete(key)
    }
  }

  /**
   * Whether `checkNow` is checking the builder: Nix's own hook could not build on it a moment
   * ago, so it is not chosen again until the check says (an sshd that hangs takes the check's
   * whole timeout, and each build sent there meanwhile ssh's).
   */
  isSuspect (key: string): boolean {
    return this.suspects.has(key)
  }

  private tick (): void {
    const { table, clock } = this.components
    const now = clock.now()
    for (const peer of table.list()) {
      const target = targetOf(peer)
      if (target === undefined) continue
      const id = JSON.stringify(target)
      // A new address, port or host key is a new thing to check, whatever the old one's record.
      if (this.targets.get(peer.key) !== id) {
        this.targets.set(peer.key, id)
        table.setSsh(peer.key, null)
      }
      const due = peer.ssh === null || now >= peer.ssh.nextCheckAt
      if (due && !this.checking.has(peer.key)) void this.run(peer.key, target)
    }
    for (const key of this.checkedNowAt.keys()) if (table.get(key) === undefined) this.checkedNowAt.delete(key)
  }

  private async run (key: string, target: Target): Promise<void> {
    const check = this.check(key, target)
    this.checking.set(key, check)
    try {
      await check
    } finally {
      this.checking.delete(key)
    }
  }

  private async check (key: string, target: Target): Promise<void> {
    const { table, clock, log, check } = this.components
    const result = await check(target.host, target.port, target.hostKey)
    const peer = table.get(key)
    if (peer === undefined || this.targets.get(key) !== JSON.stringify(target)) return
    const failures = result.ok ? 0 : (peer.ssh?.failures ?? 0) + 1
    const wait = result.ok ? this.init.recheckMs : Math.min(this.init.maxBackoffMs, this.init.minBackoffMs * 2 ** (failures - 1))
    if (!result.ok) log.warn({ peer: peer.name, peerId: peer.advertisement?.peerId, reason: result.reason, retryInMs: wait }, 'builder SSH check failed')
    table.setSsh(key, { ok: result.ok, reason: result.reason, failures, nextCheckAt: clock.now() + wait })
  }

}

/** Where a verified builder's sshd should answer, with the host key the lists pin; undefined until all of that is known. */
function targetOf (peer: Peer): Target | undefined {
  const ad = currentAdvertisement(peer)
  const host = peer.addresses.find((a) => !a.includes(':'))
  if (!peer.trusted || peer.status === null || ad?.hostKey == null || host === undefined) return undefined
  return { host, port: ad.sshPort, hostKey: ad.hostKey }
}
