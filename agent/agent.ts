import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { MdnsEndpoint } from '../common/mdns.ts'
import { BuilderListWriter } from '../scheduler/builder-list-writer.ts'
import { defaultEligibilityPolicy, toPeerView, type EligibilityPolicy } from '../scheduler/eligibility.ts'
import { MdnsPeerSource } from '../scheduler/mdns-peer-source.ts'
import type { PeerView } from '../scheduler/peer.ts'
import { PeerTable } from '../scheduler/peer-table.ts'
import type { Advertisement } from '../wire/advertisement.ts'
import { Advertiser } from './advertiser.ts'
import { ControlServer } from './control-server.ts'
import { probeHost, probeLiveStatus, type ProbeDeps, type ProbeOverrides } from './probe/index.ts'

export interface AgentConfig {
  /** Offer this host as a builder. */
  builder: boolean
  /** Discover peers and write this host's builder lists. */
  master: boolean
  overrides: ProbeOverrides
  nixMachinesPath?: string | undefined
  guixMachinesPath?: string | undefined
  sshKeyPath: string
  socketPath: string
  interface?: string | undefined
  trustAll: boolean
  overloadThreshold: number
  /** How long a silent peer stays in the table. */
  peerTimeoutMs?: number
  /** How often the master asks the LAN who is there. */
  queryIntervalMs?: number
}

export interface AgentComponents {
  log: Logger
  clock: Clock
  probeDeps: ProbeDeps
}

interface Part {
  start: () => Promise<void> | void
  stop: () => Promise<void> | void
}

/** What a host runs: builder, master or both, and the control socket `mesh` talks to. */
export class Agent {
  private readonly components: AgentComponents
  private readonly config: AgentConfig
  private started: Part[] = []
  private advertiser: Advertiser | undefined
  private table: PeerTable | undefined
  private policy: EligibilityPolicy = defaultEligibilityPolicy

  constructor (components: AgentComponents, config: AgentConfig) {
    this.components = components
    this.config = config
  }

  async start (): Promise<void> {
    if (this.started.length > 0) return
    const { log, clock, probeDeps } = this.components
    const config = this.config
    const mdns = new MdnsEndpoint({ interface: config.interface, log })
    const parts: Part[] = [mdns]

    if (config.builder) {
      const facts = await probeHost(probeDeps, config.overrides)
      this.advertiser = new Advertiser({
        mdns, clock, log, sampleLiveStatus: async () => await probeLiveStatus(probeDeps, facts)
      }, { advertisement: toAdvertisement(facts), port: facts.sshPort })
      parts.push(this.advertiser)
      this.policy = { ...defaultEligibilityPolicy, localName: facts.name }
    }
    if (config.master) {
      const table = new PeerTable({ clock, log }, { trustAll: config.trustAll, expireAfterMs: config.peerTimeoutMs })
      table.follow(new MdnsPeerSource({ mdns, clock, log }, { queryIntervalMs: config.queryIntervalMs }))
      this.table = table
      parts.push(table, new BuilderListWriter({ table, log }, {
        nixMachinesPath: config.nixMachinesPath,
        guixMachinesPath: config.guixMachinesPath,
        sshKeyPath: config.sshKeyPath,
        overloadThreshold: config.overloadThreshold,
        policy: this.policy
      }))
    }
    parts.push(new ControlServer({
      log,
      handlers: { peers: () => this.peers(), self: () => this.self() }
    }, { path: config.socketPath }))

    for (const part of parts) {
      try {
        await part.start()
      } catch (err) {
        await this.stopParts()
        throw err
      }
      this.started.push(part)
    }
  }

  async stop (): Promise<void> {
    await this.stopParts()
  }

  peers (): PeerView[] {
    return this.table?.list().map((p) => toPeerView(p, this.policy)) ?? []
  }

  self (): { builder: Advertisement | null, master: boolean } {
    return { builder: this.advertiser?.current ?? null, master: this.config.master }
  }

  private async stopParts (): Promise<void> {
    const parts = this.started.reverse()
    this.started = []
    for (const part of parts) {
      try {
        await part.stop()
      } catch (err) {
        this.components.log.warn({ err: (err as Error).message }, 'stopping a part failed')
      }
    }
  }
}

function toAdvertisement (facts: Advertisement): Advertisement {
  const { name, systems, supportedFeatures, mandatoryFeatures, slots, speed, load, freeDiskBytes, sshUser, sshPort, hostKey } = facts
  return { name, systems, supportedFeatures, mandatoryFeatures, slots, speed, load, freeDiskBytes, sshUser, sshPort, hostKey }
}
