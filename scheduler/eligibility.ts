import type { Advertisement } from '../wire/advertisement.ts'
import type { Peer, PeerView, Builder } from './peer.ts'
import { expectedRate } from './plan-build.ts'

export interface EligibilityPolicy {
  /** Guix refuses a machine with less than 100 MiB free; so do we, before a build fails on it. */
  minFreeDiskBytes: number
  /** The master's own advertised name: Nix and Guix build there without SSH, so it is never listed. */
  localName?: string | undefined
}

export const defaultEligibilityPolicy: EligibilityPolicy = {
  minFreeDiskBytes: 100 * 1024 * 1024
}

const MiB = 1024 * 1024

/**
 * The builder as the lists describe it: what mDNS said, overridden by what the builder said over
 * its authenticated stream, which is the only source of the host key.
 */
export function currentAdvertisement (peer: Peer): Advertisement | null {
  const ad = peer.advertisement
  if (ad === null) return null
  const status = peer.status
  if (status === null) return ad
  return {
    ...ad,
    systems: status.systems,
    supportedFeatures: status.supportedFeatures,
    mandatoryFeatures: status.mandatoryFeatures,
    slots: status.slots,
    speed: status.speed,
    load: status.load,
    freeDiskBytes: status.freeDiskBytes,
    sshUser: status.sshUser,
    sshPort: status.sshPort,
    hostKey: status.hostKey
  }
}

/** Why a peer may not build, or null when it may. */
export function ineligibleReason (peer: Peer, policy: EligibilityPolicy = defaultEligibilityPolicy, now = Date.now()): string | null {
  const ad = currentAdvertisement(peer)
  if (ad === null) return `invalid advertisement: ${peer.invalidReason ?? 'unknown'}`
  if (ad.name === policy.localName) return 'this host: it builds locally, not over SSH'
  if (!peer.trusted) return `not trusted: ${peer.untrustedReason ?? 'not verified yet'}`
  if (peer.status === null) return peer.statusAt === null ? 'no status received yet' : 'status is stale: the builder stopped answering'
  if (ad.hostKey === null) return 'no SSH host key, so it cannot be pinned'
  if (!peer.authorized) return 'waiting for the builder to let the master\'s SSH key in'
  if (peer.ssh !== null && !peer.ssh.ok) {
    const wait = Math.max(0, Math.ceil((peer.ssh.nextCheckAt - now) / 1000))
    return `SSH check failed (${peer.ssh.reason ?? 'unknown'}); next try in ${wait}s`
  }
  if (ad.freeDiskBytes < policy.minFreeDiskBytes) {
    return `only ${Math.floor(ad.freeDiskBytes / MiB)} MiB free on the store (needs ${Math.floor(policy.minFreeDiskBytes / MiB)} MiB)`
  }
  return null
}

/** Address to SSH to: IPv4 first, since it is what both Nix and Guix parse without brackets. */
export function sshHost (peer: Peer): string | undefined {
  return peer.addresses.find((a) => !a.includes(':')) ?? peer.addresses[0]
}

/** How fast a new build would go on the peer now (see plan-build.ts): what the list order ranks by. */
function rate (peer: Peer, ad: Advertisement): number {
  return expectedRate({ ...ad, local: false, cores: peer.status?.cores ?? ad.slots, slotsInUse: peer.status?.slotsInUse ?? 0 })
}

/** Eligible peers in the order the lists should offer them: the fastest for a new build first. */
export function eligibleBuilders (peers: Peer[], policy: EligibilityPolicy = defaultEligibilityPolicy): Builder[] {
  const ranked: Array<{ builder: Builder, rate: number }> = []
  for (const peer of peers) {
    const host = sshHost(peer)
    const advertisement = currentAdvertisement(peer)
    if (advertisement === null || host === undefined || ineligibleReason(peer, policy) !== null) continue
    ranked.push({ builder: { host, advertisement }, rate: rate(peer, advertisement) })
  }
  return ranked
    .sort((a, b) => b.rate - a.rate || a.builder.advertisement.name.localeCompare(b.builder.advertisement.name))
    .map((r) => r.builder)
}

export function toPeerView (peer: Peer, policy: EligibilityPolicy = defaultEligibilityPolicy, now = Date.now()): PeerView {
  const ad = currentAdvertisement(peer)
  const reason = ineligibleReason(peer, policy, now)
  return {
    name: peer.name,
    peerId: ad?.peerId ?? null,
    addresses: peer.addresses,
    systems: ad?.systems ?? [],
    supportedFeatures: ad?.supportedFeatures ?? [],
    mandatoryFeatures: ad?.mandatoryFeatures ?? [],
    slots: ad?.slots ?? 0,
    slotsInUse: peer.status?.slotsInUse ?? null,
    speed: ad?.speed ?? 0,
    load: ad?.load ?? 0,
    freeDiskBytes: ad?.freeDiskBytes ?? 0,
    sshUser: ad?.sshUser ?? null,
    sshPort: ad?.sshPort ?? null,
    hostKey: ad?.hostKey ?? null,
    trusted: peer.trusted,
    untrustedReason: peer.trusted ? null : peer.untrustedReason,
    eligible: reason === null,
    reason,
    lastSeen: new Date(peer.lastSeen).toISOString(),
    statusAgeSeconds: peer.statusAt === null ? null : Math.max(0, Math.round((now - peer.statusAt) / 100) / 10),
    version: peer.status?.version ?? null,
    kernel: peer.status?.kernel ?? null,
    arch: peer.status?.arch ?? null,
    hostName: peer.status?.hostName ?? null,
    clockOffsetMs: peer.status === null || peer.statusAt === null ? null : peer.status.sentAt - peer.statusAt
  }
}
