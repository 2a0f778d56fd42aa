import type { Advertisement } from '../../wire/advertisement.ts'
import type { PeerSighting } from '../../scheduler/peer-source.ts'
import type { BuilderStatus } from '../../wire/status.ts'
import { encodeAdvertisement } from '../../wire/txt.ts'

/** Real public host keys made with `ssh-keygen` for these tests (comments removed). */
export const ED25519_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGGazfV8kRXhW3qwdUXQXROPFGv1Y2uCEMJj3lF83w2I'
export const ECDSA_P256_KEY = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG4hoJZHxePVf6VoOhWiKReGuzJNVNeQJXJFh3mImLmNXNKZqT2DHgdSfrxx4Bk4Ig2JnN/7lsU+u9w5UjXi//o='
export const ECDSA_P521_KEY = 'ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBAH6AxqMc57OXWgb8ZdlCpaJU6DklXEJvC9Zq3XBtJ3laDNcWAzf+Pc0T53W+0fVIZ+9oyeJQnjKbGLdo1S3b3RqFAHg2Ahy2T8ojPCundN5K9DTCo1HcfE3E3OPCxX76qOnx6FOzH+WxbdMVLl43VNuCg4T9J1R4KXzqzptgvr5Ef3BrQ=='
export const RSA_2048_KEY = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDMBEryUwTZbiq5QONSbPfnmLYlfhN3iXv9500Iv0idHu7DXj+UeC4ipcpkqkF0PUmT24trhSgd6643jfYQlWNLb77sg5erj/EgjjVPwfVzK/r+MIyEpDCptF2ZYHvxMxd0kJwXFrVb8/9SLSBUqy1EBFMRyEvWz4TCf9q2digsYzor58w3NaCYbrbM51kJ6O017nyAhDRnSQklgpf/c9eHeGgtaoNlXWQvcWtRwYWLP/1wzHpBNdEnykm98cSCIHnkgCFpjolyrnlWirSyNsXMQGxNIcw2jE42ALVB9Lpb/bZaNydOJggyN4natgS9V+eD/LvHZByN9jqhFQFE1ZJb'

/** A real Ed25519 libp2p peer id. */
export const PEER_ID = '12D3KooWPwxPqn1wiJzNdX8xePVCRwnLVWxRZVkpLtfA2SSDijDY'

/** A typical x86_64 builder; override what a test is about. */
export function advertisement (overrides: Partial<Advertisement> = {}): Advertisement {
  return {
    name: 'builder-1',
    systems: ['x86_64-linux', 'i686-linux'],
    supportedFeatures: ['kvm', 'big-parallel', 'nixos-test', 'benchmark'],
    mandatoryFeatures: [],
    slots: 16,
    speed: 2,
    load: 0.25,
    freeDiskBytes: 512 * 1024 ** 3,
    sshUser: 'nix-builder',
    sshPort: 22,
    hostKey: ED25519_KEY,
    peerId: PEER_ID,
    p2pPort: 4717,
    ...overrides
  }
}

/** TXT strings as they arrive in a packet. */
export function rawTxt (txt: Record<string, string>): Uint8Array[] {
  return Object.entries(txt).map(([k, v]) => new TextEncoder().encode(`${k}=${v}`))
}

/** What the mDNS source reports when it hears `ad` from `address`. */
export function sighting (ad: Advertisement, at: number, address = '10.9.0.2'): PeerSighting {
  return {
    key: `${ad.name}._buildmesh._tcp.local`,
    instanceName: ad.name,
    addresses: [address],
    rawTxt: rawTxt(encodeAdvertisement(ad)),
    at
  }
}

/** What a builder with this advertisement says over its status stream. */
export function statusFrom (ad: Advertisement, over: Partial<BuilderStatus> = {}): BuilderStatus {
  const { name, systems, supportedFeatures, mandatoryFeatures, slots, speed, load, freeDiskBytes, sshUser, sshPort } = ad
  return { v: 1, name, systems, supportedFeatures, mandatoryFeatures, slots, slotsInUse: 0, cores: slots, speed, load, freeDiskBytes, sshUser, sshPort, hostKey: ad.hostKey ?? ED25519_KEY, seq: 0, sentAt: 1, version: '0.1.0', ...over }
}
