import type { Advertisement } from '../../wire/advertisement.ts'
import { encodeAdvertisement } from '../../wire/txt.ts'
import type { PeerSighting } from '../../scheduler/peer-source.ts'

/** A real host key line (ed25519, key type inside the blob matches). */
export const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'

export function advertisement (over: Partial<Advertisement> = {}): Advertisement {
  return {
    name: 'b1',
    systems: ['x86_64-linux'],
    supportedFeatures: ['kvm'],
    mandatoryFeatures: [],
    slots: 2,
    speed: 1,
    load: 0.1,
    freeDiskBytes: 20 * 1024 ** 3,
    sshUser: 'root',
    sshPort: 22,
    hostKey: HOST_KEY,
    ...over
  }
}

export function rawTxt (txt: Record<string, string>): Uint8Array[] {
  return Object.entries(txt).map(([k, v]) => new TextEncoder().encode(`${k}=${v}`))
}

export function sighting (ad: Advertisement, at: number, address = '10.9.0.2'): PeerSighting {
  return {
    key: `${ad.name}._buildmesh._tcp.local`,
    instanceName: ad.name,
    addresses: [address],
    rawTxt: rawTxt(encodeAdvertisement(ad)),
    at
  }
}
