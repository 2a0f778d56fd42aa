import type { Connection, PeerId, Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { AUTHORIZE_PROTOCOL, decodeAuthorizeRequest, encodeAuthorizeResponse, MAX_AUTHORIZE_BYTES, type AuthorizeResponse } from '../wire/authorize.ts'
import type { AuthorizedKeysFile } from './authorized-keys.ts'
import type { MeshNode } from './mesh-node.ts'

export interface AuthorizeServerComponents {
  node: MeshNode
  keys: AuthorizedKeysFile
  clock: Clock
  log: Logger
}

export interface AuthorizeServerInit {
  /**
   * A master that stays disconnected this long has left the mesh and its key is removed. The
   * grace keeps a restarting master (or a short network blip) from losing and regaining access.
   */
  revokeAfterMs?: number
}

/**
 * Serves `/buildmesh/authorize/1.0.0` on a builder: a mesh member's SSH key goes into the
 * authorized_keys file this agent owns, and comes out again once that member has gone.
 * Which master is asking is the authenticated connection's peer id, never the message.
 */
export class AuthorizeServer {
  private readonly components: AuthorizeServerComponents
  private readonly revokeAfterMs: number
  private readonly revocations = new Map<string, unknown>()
  private running = false
  private readonly onDisconnect = (event: CustomEvent<PeerId>): void => { this.scheduleRevoke(event.detail.toString()) }
  private readonly onConnect = (event: CustomEvent<PeerId>): void => { this.cancelRevoke(event.detail.toString()) }

  constructor (components: AuthorizeServerComponents, init: AuthorizeServerInit = {}) {
    this.components = components
    this.revokeAfterMs = init.revokeAfterMs ?? 10_000
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    const { node, keys } = this.components
    // Masters that held access before a restart get the same grace to come back.
    for (const master of await keys.managed()) this.scheduleRevoke(master)
    node.libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    node.libp2p.addEventListener('peer:connect', this.onConnect)
    await node.libp2p.handle(AUTHORIZE_PROTOCOL, (stream, connection) => { void this.serve(stream, connection) })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    const { node, clock } = this.components
    node.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    node.libp2p.removeEventListener('peer:connect', this.onConnect)
    await node.libp2p.unhandle(AUTHORIZE_PROTOCOL)
    for (const timer of this.revocations.values()) clock.clearTimeout(timer)
    this.revocations.clear()
  }

  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const { keys, log } = this.components
    const master = connection.remotePeer.toString()
    let response: AuthorizeResponse
    try {
      const request = await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_AUTHORIZE_BYTES }), async (source) => {
        for await (const message of source) return decodeAuthorizeRequest(message.subarray())
        throw new Error('stream closed before a request arrived')
      })
      this.cancelRevoke(master)
      await keys.authorize(master, request.publicKey)
      log.info({ peerId: master, peer: request.master }, 'master may log in over SSH')
      response = { v: 1, ok: true }
    } catch (err) {
      log.warn({ peerId: master, err: (err as Error).message }, 'authorize request refused')
      response = { v: 1, ok: false, error: (err as Error).message }
    }
    try {
      stream.send(lp.encode.single(encodeAuthorizeResponse(response)))
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  private scheduleRevoke (master: string): void {
    if (!this.running || this.revocations.has(master)) return
    const { clock, keys, log, node } = this.components
    this.revocations.set(master, clock.setTimeout(() => {
      this.revocations.delete(master)
      if (node.libp2p.getConnections().some((c) => c.remotePeer.toString() === master)) return
      void keys.revoke(master).then((removed) => {
        if (removed) log.info({ peerId: master }, 'master left the mesh: SSH key removed')
      }, (err: unknown) => { log.warn({ peerId: master, err: (err as Error).message }, 'removing a master key failed') })
    }, this.revokeAfterMs))
  }

  private cancelRevoke (master: string): void {
    const timer = this.revocations.get(master)
    if (timer === undefined) return
    this.components.clock.clearTimeout(timer)
    this.revocations.delete(master)
  }
}
