import type { EventEmitter } from 'node:events'

/** A builder seen on the network, before anything in it is trusted or validated. */
export interface PeerSighting {
  /** Stable identity of the advertisement (the mDNS instance's full name). */
  key: string
  /** The instance name as received: unvalidated. */
  instanceName: string
  /** Addresses as received, the packet's source first: unvalidated. */
  addresses: string[]
  /** The TXT strings as received: unvalidated. */
  rawTxt: Uint8Array[]
  /** Epoch milliseconds. */
  at: number
}

export interface PeerSourceEvents {
  /** A peer appeared or changed what it says. */
  sighting: [PeerSighting]
  /** A peer showed it is still there, saying nothing new. */
  alive: [key: string, at: number]
  /** A peer said goodbye. */
  gone: [key: string]
}

/** Where peers come from: mDNS on the LAN, or a fixed list in tests. */
export interface PeerSource extends EventEmitter<PeerSourceEvents> {
  start: () => Promise<void> | void
  stop: () => Promise<void> | void
}
