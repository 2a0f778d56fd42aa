/**
 * What a builder says about itself on the LAN. Every field here may have come from a
 * hostile packet; `decodeAdvertisement` (wire/txt.ts) is the only way to build one from the
 * network, and it validates each field.
 */
export interface Advertisement {
  /** Host name: one DNS label, also the mDNS instance name. */
  name: string
  /** Nix system types, e.g. `x86_64-linux`. Never empty. */
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  /** Builds it will run at once (Nix maxJobs, Guix parallel-builds). */
  slots: number
  /** Relative speed, > 0. Nix 2.8 wants an integer >= 1; the Nix writer rounds. */
  speed: number
  /** 1-minute load average / cores, capped to 0..1. */
  load: number
  /** Free bytes on the filesystem of the store (/nix/store or /gnu/store). */
  freeDiskBytes: number
  sshUser: string
  sshPort: number
  /**
   * The SSH host public key as an OpenSSH line (`ssh-ed25519 AAAA...`), or null when unknown.
   * Never sent in TXT: a master pins only the key it received over the authenticated status stream.
   */
  hostKey: string | null
  /** The agent's libp2p identity, or null for a host that is not a mesh member. */
  peerId: string | null
  /** TCP port the agent's libp2p node listens on, or null with no peer id. */
  p2pPort: number | null
}

/** DNS-SD service type: `_buildmesh._tcp.local`. */
export const SERVICE_TYPE = 'buildmesh'
export const SERVICE_PROTOCOL = 'tcp'

/** Version of the TXT schema, carried in the `v` key; a peer with another version is shown, not listed. */
export const TXT_VERSION = 1
