import type { Peer, PeerView, Builder } from './peer.ts'

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

/** Why a peer may not build, or null when it may. */
export function ineligibleReason (peer: Peer, policy: EligibilityPolicy = defaultEligibilityPolicy): string | null {
  const ad = peer.advertisement
  if (ad === null) return `invalid advertisement: ${peer.invalidReason ?? 'unknown'}`
  if (ad.name === policy.localName) return 'this host: it builds locally, not over SSH'
  if (!peer.trusted) return `not trusted: ${peer.untrustedReason ?? 'unverified'}`
  if (ad.hostKey === null) return 'no SSH host key advertised, so it cannot be pinned'
  if (ad.freeDiskBytes < policy.minFreeDiskBytes) {
    return `only ${Math.floor(ad.freeDiskBytes / MiB)} MiB free on the store (needs ${Math.floor(policy.minFreeDiskBytes / MiB)} MiB)`
  }
  return null
}

/** Address to SSH to: IPv4 first, since it is what both Nix and Guix parse without brackets. */
function sshHost (peer: Peer): string | undefined {
  return peer.addresses.find((a) => !a.includes(':')) ?? peer.addresses[0]
}

/** Eligible peers in the order the lists should offer them: faster, then less loaded, first. */
export function eligibleBuilders (peers: Peer[], policy: EligibilityPolicy = defaultEligibilityPolicy): Builder[] {
  const builders: Builder[] = []
  for (const peer of peers) {
    const host = sshHost(peer)
    if (peer.advertisement === null || host === undefined || ineligibleReason(peer, policy) !== null) continue
    builders.push({ host, advertisement: peer.advertisement })
  }
  return builders.sort((a, b) =>
    b.advertisement.speed - a.advertisement.speed ||
    a.advertisement.load - b.advertisement.load ||
    a.advertisement.name.localeCompare(b.advertisement.name))
}

export function toPeerView (peer: Peer, policy: EligibilityPolicy = defaultEligibilityPolicy): PeerView {
  const ad = peer.advertisement
  const reason = ineligibleReason(peer, policy)
  return {
    name: peer.name,
    addresses: peer.addresses,
    systems: ad?.systems ?? [],
    supportedFeatures: ad?.supportedFeatures ?? [],
    mandatoryFeatures: ad?.mandatoryFeatures ?? [],
    slots: ad?.slots ?? 0,
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
    lastSeen: new Date(peer.lastSeen).toISOString()
  }
}
