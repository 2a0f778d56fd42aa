import { createRequire } from 'node:module'
import { networkInterfaces } from 'node:os'
import type { ServiceRecord } from 'bonjour-service/dist/lib/service.js'
import { BuildmeshError } from './errors.ts'
import type { Logger } from './logger.ts'

export type { ServiceRecord }

/** A DNS packet as multicast-dns hands it over. */
export interface MdnsPacket {
  answers: ServiceRecord[]
  additionals: ServiceRecord[]
}

export interface MdnsSocket {
  respond: (packet: { answers: ServiceRecord[], additionals?: ServiceRecord[] }, cb?: (err?: Error | null) => void) => void
  query: (name: string, type: string) => void
  /** 'response' listeners get the packet and the sender (`rinfo.address`). */
  on: (event: string, fn: (...args: any[]) => void) => void
  removeListener: (event: string, fn: (...args: any[]) => void) => void
  destroy: (cb?: () => void) => void
}

interface RecordServer {
  mdns: MdnsSocket
  register: (records: ServiceRecord[]) => void
  unregister: (records: ServiceRecord[]) => void
}

// bonjour-service's Registry re-broadcasts the records it captured at publish time for an
// hour, which would undo every TXT update we announce. So we use its building blocks
// (the record server that answers queries, Service) and own the announcing.
const require = createRequire(import.meta.url)
const { Server } = require('bonjour-service/dist/lib/mdns-server.js') as {
  Server: new (opts: object, errorCallback: (err: Error) => void) => RecordServer
}

export class InterfaceError extends BuildmeshError {
  constructor (name: string) {
    super('ERR_INTERFACE', `network interface ${name} has no IPv4 address (see \`ip addr\`)`, 2)
  }
}

/** The first IPv4 address of a named interface: what multicast-dns binds its membership to. */
export function interfaceAddress (name: string): string {
  const found = networkInterfaces()[name]?.find((a) => a.family === 'IPv4')
  if (found === undefined) throw new InterfaceError(name)
  return found.address
}

/** Non-loopback addresses to put in our A/AAAA records. */
export function localAddresses (interfaceName?: string): string[] {
  const all = networkInterfaces()
  const names = interfaceName === undefined ? Object.keys(all) : [interfaceName]
  return names.flatMap((n) => (all[n] ?? [])
    .filter((a) => !a.internal && (a.family === 'IPv4' || !a.address.startsWith('fe80')))
    .map((a) => a.address))
}

export interface MdnsEndpointInit {
  interface?: string
  log: Logger
}

/**
 * One multicast DNS socket per agent, shared by the advertiser (answers queries for the
 * records it registers) and discovery (browses). A malformed packet is dropped with a log
 * line by multicast-dns; socket errors are logged, never thrown.
 */
export class MdnsEndpoint {
  readonly interfaceName: string | undefined
  private readonly log: Logger
  private server: RecordServer | undefined

  constructor (init: MdnsEndpointInit) {
    this.interfaceName = init.interface
    this.log = init.log
  }

  start (): void {
    if (this.server !== undefined) return
    const opts = this.interfaceName === undefined ? {} : { interface: interfaceAddress(this.interfaceName) }
    const server = new Server(opts, (err: Error) => { this.log.warn({ err: err.message }, 'mdns send failed') })
    server.mdns.on('error', (err: Error) => { this.log.warn({ err: err.message }, 'mdns socket error') })
    server.mdns.on('warning', (err: Error) => { this.log.debug({ err: err.message }, 'mdns packet dropped') })
    this.server = server
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    await new Promise<void>((resolve) => { server.mdns.destroy(() => { resolve() }) })
  }

  get socket (): MdnsSocket {
    return this.running().mdns
  }

  register (records: ServiceRecord[]): void {
    this.running().register(records)
  }

  unregister (records: ServiceRecord[]): void {
    this.running().unregister(records)
  }

  async announce (records: ServiceRecord[]): Promise<void> {
    const socket = this.socket
    await new Promise<void>((resolve) => {
      socket.respond({ answers: records }, (err) => {
        if (err != null) this.log.warn({ err: err.message }, 'mdns announce failed')
        resolve()
      })
    })
  }

  private running (): RecordServer {
    if (this.server === undefined) throw new BuildmeshError('ERR_NOT_STARTED', 'mdns endpoint is not started')
    return this.server
  }
}
