import { currentAdvertisement, sshHost } from './eligibility.ts'
import type { Peer } from './peer.ts'
import { canBuild, type Needs } from './plan-build.ts'

/**
 * The hosts Nix's `builders` setting names, as the mesh knows them. Only a trusted peer makes a
 * host the mesh's: anyone on the LAN can advertise an address, and a host named in the setting
 * that no member holds is one the agent cannot weigh, so Nix's own hook builds there as it
 * would without the agent.
 */

/** What each name looked up (a host the setting names, or what ssh connects to for it) resolves to (`HostNames`); an address stands for itself. */
export type NamedAddresses = ReadonlyMap<string, readonly string[]>

/** A name as DNS compares them: case aside, and a final dot aside. */
const normal = (name: string): string => name.toLowerCase().replace(/\.$/, '')

/**
 * The trusted member a host of the setting is: one of its addresses; a name that resolves to one
 * of them, as ssh would connect there; or the host name it reports, bare or as Avahi publishes it
 * (`NAME.local`), for a master that resolves neither.
 */
function memberNamed (host: string, members: Peer[], resolved: NamedAddresses): Peer | undefined {
  const addresses = resolved.get(host) ?? []
  const name = normal(host)
  return members.find((peer) => peer.addresses.includes(host) || addresses.some((a) => peer.addresses.includes(a))) ??
    members.find((peer) => {
      const own = peer.status?.hostName
      return own !== undefined && (name === normal(own) || name === `${normal(own)}.local`)
    })
}

/**
 * Each named host's member, or undefined for a host the mesh does not know. A host the user's
 * ssh configuration names otherwise (`destinations`, from `ssh -G`) is the member ssh reaches.
 */
export function listedMembers (named: string[], peers: Peer[], resolved: NamedAddresses, destinations: ReadonlyMap<string, string> = new Map()): Map<string, Peer | undefined> {
  const members = peers.filter((peer) => peer.trusted && sshHost(peer) !== undefined)
  return new Map([...new Set(named)].map((host) => [host, memberNamed(destinations.get(host) ?? host, members, resolved)]))
}

/** The named hosts that no trusted peer of the mesh is. */
export function strangers (listed: Map<string, Peer | undefined>): string[] {
  return [...listed].flatMap(([host, peer]) => peer === undefined ? [host] : [])
}

/**
 * Whether a build restricted to the listed members should wait rather than go elsewhere: one of
 * them could build it but may not now (its SSH check failed, its status is late, its disk is
 * full). `mesh build --only b2` means b2, and it is expected back.
 */
export function awaitsListedBuilder (listed: Map<string, Peer | undefined>, needs: Needs): boolean {
  return [...listed.values()].some((peer) => {
    const ad = peer === undefined ? null : currentAdvertisement(peer)
    return ad !== null && canBuild(ad, needs)
  })
}
