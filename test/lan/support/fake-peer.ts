/*
 * A hostile or broken peer for LAN tests, run by Node inside a host:
 *   node fake-peer.ts '{"name":"f1","meshKey":"/path","status":"oversize"}'
 *
 * It advertises `_buildmesh._tcp` the way the real advertiser does (the product's record
 * server, bonjour-service's records, the product's TXT encoder), and optionally runs a libp2p
 * node with the product's MeshNode. What it says and serves is chosen by the config:
 * - `copyFrom: NAME`: browse the LAN for NAME's advertisement and publish its TXT as is (the
 *   member's peer id and p2p port) from this host's address, listening on that p2p port
 *   with an identity of its own.
 * - `status`: serve `/buildmesh/status/1.0.0` with one bad message per stream: `oversize` (a
 *   frame over MAX_STATUS_BYTES), `badjson`, or `injection` (a valid status whose systems hold
 *   a newline and a second machines line). `none` (default) serves nothing.
 * Prints one JSON line per event on stdout: `listening`, `advertising`, `status-sent`,
 * `authorize-request` (a master offered its SSH key).
 */
import { hostname } from 'node:os'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Browser, Service } from 'bonjour-service'
import * as lp from 'it-length-prefixed'
import { pipe } from 'it-pipe'
import { MeshNode } from '../../../agent/mesh-node.ts'
import { systemClock } from '../../../common/clock.ts'
import { createLogger } from '../../../common/logger.ts'
import { localAddresses, MdnsEndpoint, type ServiceRecord } from '../../../common/mdns.ts'
import { readMeshKey } from '../../../common/mesh-key.ts'
import { SERVICE_TYPE } from '../../../wire/advertisement.ts'
import { AUTHORIZE_PROTOCOL, decodeAuthorizeRequest, encodeAuthorizeResponse, MAX_AUTHORIZE_BYTES } from '../../../wire/authorize.ts'
import { MAX_STATUS_BYTES, STATUS_PROTOCOL } from '../../../wire/status.ts'
import { encodeAdvertisement } from '../../../wire/txt.ts'

export type BadStatus = 'oversize' | 'badjson' | 'injection'

export interface FakePeerConfig {
  /** mDNS instance name. */
  name: string
  /** Mesh key file; without one there is no libp2p node (and, unless `txt`, no peer id). */
  meshKey?: string
  /** Copy the TXT of the instance with this name, seen on the LAN. */
  copyFrom?: string
  /** Exact TXT to publish; default: a valid one naming this fake's own peer id and port. */
  txt?: Record<string, string>
  /** libp2p port; default 0 (any), or the copied TXT's `p2p`. */
  port?: number
  status?: BadStatus | 'none'
  /** Re-announce this often (ms); the record server answers queries in between. */
  announceMs?: number
  /** SRV target; default `HOSTNAME.local`. */
  srvHost?: string
  interface?: string
}

const config = JSON.parse(process.argv[2] ?? '{}') as FakePeerConfig
const log = createLogger('warn', false)
const emit = (event: string, fields: object = {}): void => { process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`) }

const mdns = new MdnsEndpoint({ log, ...(config.interface === undefined ? {} : { interface: config.interface }) })
mdns.start()

/** The TXT of the named instance as another host publishes it, as key=value strings. */
async function copiedTxt (instance: string): Promise<Record<string, string>> {
  const browser = new Browser(mdns.socket, { type: SERVICE_TYPE })
  const query = setInterval(() => { browser.update() }, 500)
  try {
    return await new Promise((resolve) => {
      const take = (service: Service): void => {
        const raw = (service as { rawTxt?: unknown }).rawTxt
        if (service.name !== instance || !Array.isArray(raw)) return
        const txt: Record<string, string> = {}
        for (const entry of raw as Uint8Array[]) {
          const text = Buffer.from(entry).toString('utf8')
          const at = text.indexOf('=')
          if (at > 0) txt[text.slice(0, at)] = text.slice(at + 1)
        }
        resolve(txt)
      }
      browser.on('up', take)
      browser.on('txt-update', take)
    })
  } finally {
    clearInterval(query)
    browser.stop()
  }
}

const copied = config.copyFrom === undefined ? undefined : await copiedTxt(config.copyFrom)
let node: MeshNode | undefined
if (config.meshKey !== undefined) {
  const port = config.port ?? (copied?.p2p === undefined ? 0 : Number(copied.p2p))
  node = new MeshNode({ log }, { privateKey: await generateKeyPair('Ed25519'), meshKey: await readMeshKey(config.meshKey), port })
  await node.start()
  emit('listening', { peerId: node.peerId, port: node.port })
  const bad = config.status ?? 'none'
  if (bad !== 'none') {
    await node.libp2p.handle(STATUS_PROTOCOL, (stream) => {
      const frame = badStatus(bad, node?.peerId ?? '')
      stream.send(lp.encode.single(frame))
      emit('status-sent', { mode: bad, bytes: frame.byteLength })
      // Keep the stream open: closing it is the master's call.
    })
  }
  await node.libp2p.handle(AUTHORIZE_PROTOCOL, async (stream, connection) => {
    try {
      const request = await pipe(stream, (source) => lp.decode(source, { maxDataLength: MAX_AUTHORIZE_BYTES }), async (source) => {
        for await (const message of source) return decodeAuthorizeRequest(message.subarray())
        throw new Error('no request')
      })
      emit('authorize-request', { from: connection.remotePeer.toString(), publicKey: request.publicKey })
      stream.send(lp.encode.single(encodeAuthorizeResponse({ v: 1, ok: true })))
      await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    }
  })
}

const txt = config.txt ?? copied ?? encodeAdvertisement({
  name: config.name,
  systems: ['x86_64-linux'],
  supportedFeatures: [],
  mandatoryFeatures: [],
  slots: 2,
  speed: 1,
  load: 0,
  freeDiskBytes: 50 * 1024 ** 3,
  sshUser: 'root',
  sshPort: 22,
  hostKey: null,
  peerId: node?.peerId ?? null,
  p2pPort: node?.port ?? null
})

const service = new Service({ name: config.name, type: SERVICE_TYPE, port: 22, host: config.srvHost ?? `${hostname()}.local`, txt }, () => {}, () => {})
const allowed = new Set(localAddresses(config.interface))
const records = service.records().filter((r: ServiceRecord) => (r.type !== 'A' && r.type !== 'AAAA') || allowed.has(r.data as string))
mdns.register(records)
await mdns.announce(records)
emit('advertising', { txt })
const announcer = systemClock.setInterval(() => { void mdns.announce(records) }, config.announceMs ?? 1000)

const shutdown = (): void => {
  systemClock.clearInterval(announcer)
  void Promise.allSettled([node?.stop(), mdns.stop()]).finally(() => process.exit(0))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

/** One bad status frame's payload. */
function badStatus (mode: BadStatus, peerId: string): Uint8Array {
  const valid = {
    v: 1,
    name: config.name,
    systems: ['x86_64-linux'],
    supportedFeatures: [],
    mandatoryFeatures: [],
    slots: 2,
    slotsInUse: 0,
    load: 0,
    freeDiskBytes: 50 * 1024 ** 3,
    sshUser: 'root',
    sshPort: 22,
    hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBwYkGmZ3zMJDXAfeqDgjVhKbU6ClH9GzNKt2fHnmiZg',
    seq: 0,
    sentAt: Date.now(),
    version: '0.1.0'
  }
  switch (mode) {
    case 'oversize':
      return new TextEncoder().encode(JSON.stringify({ ...valid, padding: 'x'.repeat(MAX_STATUS_BYTES + 100), peerId }))
    case 'badjson':
      return new TextEncoder().encode('{"v":1,"name":')
    case 'injection':
      return new TextEncoder().encode(JSON.stringify({ ...valid, systems: ['x86_64-linux\nssh-ng://root@10.77.0.66 x86_64-linux - 8 1 - - -'] }))
  }
}
