import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { BuildmeshError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'

export interface MeshNodeInit {
  /** The agent's persistent identity. */
  privateKey: PrivateKey
  /** The shared mesh key: the connection protector refuses anyone without it. */
  meshKey: Uint8Array
  /** TCP port to listen on; 0 picks a free one. */
  port: number
  /** Address to listen on; all of this host's by default. */
  listenAddress?: string | undefined
}

export class MeshNodeError extends BuildmeshError {
  constructor (message: string, cause?: unknown) {
    super('ERR_MESH_NODE', message, 1, { cause })
  }
}

/**
 * The agent's libp2p node: TCP, the mesh key as private-network protector, noise (which proves
 * each side holds the identity behind its peer id) and yamux. No discovery or DHT: mDNS tells
 * us who to dial, and every protocol it speaks is one of ours.
 */
export class MeshNode {
  private readonly init: MeshNodeInit
  private readonly log: Logger
  private node: Libp2p | undefined

  constructor (components: { log: Logger }, init: MeshNodeInit) {
    this.log = components.log
    this.init = init
  }

  async start (): Promise<void> {
    if (this.node !== undefined) return
    const { privateKey, meshKey, port, listenAddress } = this.init
    try {
      this.node = await createLibp2p({
        privateKey,
        addresses: { listen: [`/ip4/${listenAddress ?? '0.0.0.0'}/tcp/${port}`] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        connectionProtector: preSharedKey({ psk: meshKey }),
        // Status heartbeats already tell whether a peer is alive; pings would need a protocol we do not serve.
        connectionMonitor: { enabled: false }
      })
    } catch (err) {
      throw new MeshNodeError(`cannot listen for mesh connections on TCP port ${port}: ${(err as Error).message}`, err)
    }
    this.log.info({ peerId: this.peerId, port: this.port }, 'mesh node listening')
  }

  async stop (): Promise<void> {
    const node = this.node
    this.node = undefined
    await node?.stop()
  }

  get libp2p (): Libp2p {
    if (this.node === undefined) throw new MeshNodeError('mesh node is not started')
    return this.node
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** The port actually listened on (matters when 0 was asked for). */
  get port (): number {
    for (const addr of this.libp2p.getMultiaddrs()) {
      const tcpPort = addr.getComponents().find((c) => c.name === 'tcp')?.value
      if (tcpPort !== undefined) return Number(tcpPort)
    }
    throw new MeshNodeError('mesh node has no TCP address')
  }
}
