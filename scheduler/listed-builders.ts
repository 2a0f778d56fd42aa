import { currentAdvertisement, sshHost } from './eligibility.ts'
import type { Peer } from './peer.ts'
import { canBuild, type Needs } from './plan-build.ts'

/**
 * The hosts Nix's `builders` setting names, as the mesh knows them. Only a trusted peer makes a
 * host the mesh's: anyone on the LAN can advertise an address, and a host named in the setting
 * that no member holds is one the agent cannot weigh, so Nix's own hook builds there as it
 * would without the agent.
 */

function trustedHosts (peers: Peer[]): Map<string, Peer> {
  const hosts = new Map<string, Peer>()
  for (const peer of peers) {
    const host = sshHost(peer)
    if (peer.trusted && host !== undefined) hosts.set(host, peer)
  }
  return hosts
}

/** The named hosts that no trusted peer of the mesh has. */
export function strangers (named: string[], peers: Peer[]): string[] {
  if (named.length === 0) return []
  const known = trustedHosts(peers)
  return [...new Set(named)].filter((host) => !known.has(host))
}

/**
 * Whether a build restricted to `allowed` should wait rather than go elsewhere: a member named
 * there could build it but may not now (its SSH check failed, its status is late, its disk is
 * full). `mesh build --only b2` means b2, and it is expected back.
 */
export function awaitsListedBuilder (allowed: string[], peers: Peer[], needs: Needs): boolean {
  const known = trustedHosts(peers)
  return allowed.some((host) => {
    const peer = known.get(host)
    const ad = peer === undefined ? null : currentAdvertisement(peer)
    return ad !== null && canBuild(ad, needs)
  })
}
