import type { Advertisement } from '../wire/advertisement.ts'

/**
 * One builder as the master knows it. `advertisement` is null when what the peer sent did not
 * validate; `invalidReason` then says why, and the peer is shown but never listed.
 */
export interface Peer {
  /** Stable key: the mDNS service instance's full name. */
  key: string
  /** The instance name as received (already sanitised for display). */
  name: string
  /** Validated IP addresses, the packet's source first. */
  addresses: string[]
  advertisement: Advertisement | null
  invalidReason: string | null
  trusted: boolean
  /** Why the peer is not trusted, or null. */
  untrustedReason: string | null
  /** Epoch milliseconds of the last packet that showed the peer alive. */
  lastSeen: number
}

/** What `mesh peers --json` prints for one peer: the contract in shared/DESIGN.md. */
export interface PeerView {
  name: string
  addresses: string[]
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  slots: number
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
}

/** A peer that may appear in a builder list: valid and eligible. */
export interface Builder {
  /** Address Nix and Guix will SSH to. */
  host: string
  advertisement: Advertisement
}
