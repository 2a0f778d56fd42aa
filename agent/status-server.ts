import type { Connection, Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { encodeStatus, STATUS_PROTOCOL, type BuilderStatus } from '../wire/status.ts'
import type { MeshNode } from './mesh-node.ts'

/** The status a builder reports, before the per-stream sequence number and send time. */
export type StatusSnapshot = Omit<BuilderStatus, 'v' | 'seq' | 'sentAt'>

export interface StatusServerComponents {
  node: MeshNode
  clock: Clock
  log: Logger
  /** Must be cheap: it is called once per heartbeat per connected master. */
  snapshot: () => Promise<StatusSnapshot>
}

export interface StatusServerInit {
  /** How often each master hears from this builder; its silence is how a master sees us die. */
  heartbeatMs?: number
}

/**
 * Serves `/buildmesh/status/1.0.0`: to each master that opens the stream, the full status at
 * once and then one message per heartbeat, until either side closes it.
 */
export class StatusServer {
  private readonly components: StatusServerComponents
  private readonly heartbeatMs: number
  private readonly streams = new Set<Stream>()
  private running = false

  constructor (components: StatusServerComponents, init: StatusServerInit = {}) {
    this.components = components
    this.heartbeatMs = init.heartbeatMs ?? 500
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    await this.components.node.libp2p.handle(STATUS_PROTOCOL, (stream, connection) => {
      void this.serve(stream, connection)
    }, { maxInboundStreams: 64 })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    await this.components.node.libp2p.unhandle(STATUS_PROTOCOL)
    await Promise.all([...this.streams].map(async (s) => { await s.close().catch(() => { s.abort(new Error('agent stopping')) }) }))
    this.streams.clear()
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const { clock, log, snapshot } = this.components
    const master = connection.remotePeer.toString()
    this.streams.add(stream)
    let seq = 0
    try {
      while (this.running && stream.status === 'open' && stream.writeStatus === 'writable') {
        const status: BuilderStatus = { v: 1, ...(await snapshot()), seq: seq++, sentAt: clock.now() }
        if (!stream.send(lp.encode.single(encodeStatus(status)))) await stream.onDrain()
        await new Promise<void>((resolve) => { clock.setTimeout(resolve, this.heartbeatMs) })
      }
    } catch (err) {
      log.debug({ peerId: master, err: (err as Error).message }, 'status stream ended')
    } finally {
      this.streams.delete(stream)
    }
  }
}
