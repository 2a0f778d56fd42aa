import type { Advertisement } from '../wire/advertisement.ts'
import type { BuilderStatus } from '../wire/status.ts'

/**
 * One builder as the master knows it. `advertisement` is what mDNS said (anyone may say it);
 * `status` is what the builder said over the authenticated libp2p stream. Only a peer with a
 * verified identity and a fresh status can be listed.
 */
export interface Peer {
  /** Stable key: the mDNS service instance's full name. */
  key: string
  /** The instance name as received (already made printable for display). */
  name: string
  /** Validated IP addresses, the packet's source first. */
  addresses: string[]
  /** Null when what the peer sent did not validate; `invalidReason` then says why. */
  advertisement: Advertisement | null
  invalidReason: string | null
  /** The mesh key and the advertised peer id were proven by a libp2p handshake, and the link is up. */
  trusted: boolean
  /** Why the peer is not trusted (no key, wrong key, id mismatch, unreachable), or null. */
  untrustedReason: string | null
  status: BuilderStatus | null
  /** Epoch milliseconds, on the master's clock, when the last status arrived. */
  statusAt: number | null
  /** The builder said it let the master's SSH key in; until then Nix could not log in. */
  authorized: boolean
  /** The last SSH check of the builder's sshd, or null before the first. */
  ssh: SshState | null
  /** Epoch milliseconds of the last mDNS packet that showed the peer alive. */
  lastSeen: number
}

export interface SshState {
  ok: boolean
  reason: string | null
  /** Failures in a row: the wait before the next check grows with them. */
  failures: number
  nextCheckAt: number
}

/** What `mesh peers --json` prints for one peer: the contract in shared/DESIGN.md, and more. */
export interface PeerView {
  name: string
  peerId: string | null
  addresses: string[]
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  slots: number
  slotsInUse: number | null
  speed: number
  load: number
  freeDiskBytes: number
  sshUser: string | null
  sshPort: number | null
  hostKey: string | null
  trusted: boolean
  untrustedReason: string | null
  eligible: boolean
  reason: string | null
  lastSeen: string
  /** Seconds since the last status over the mesh link, or null when none came. */
  statusAgeSeconds: number | null
  version: string | null
  /** Kernel release, architecture and host name from the builder's status, or null. */
  kernel: string | null
  arch: string | null
  hostName: string | null
  /**
   * The builder's clock minus this master's, in milliseconds, from the last status: its send
   * time against the time it arrived, so it is off by the one-way latency of the link. Null
   * without a fresh status.
   */
  clockOffsetMs: number | null
}

/** A peer that may appear in a builder list: the address to SSH to and what it builds. */
export interface Builder {
  host: string
  advertisement: Advertisement
}
