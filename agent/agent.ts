import { join } from 'node:path'
import { hostname, machine, release } from 'node:os'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import { MdnsEndpoint } from '../common/mdns.ts'
import { readMeshKey } from '../common/mesh-key.ts'
import { BUILDMESH_VERSION } from '../common/version.ts'
import { BuildHistory } from '../scheduler/build-history.ts'
import { StoreDependents } from '../scheduler/dependents.ts'
import { BuildHistoryFile } from '../scheduler/build-history-file.ts'
import { BuildPlanner } from '../scheduler/build-planner.ts'
import { HostNames, systemLookup } from '../scheduler/host-names.ts'
import { BuilderListWriter } from '../scheduler/builder-list-writer.ts'
import { defaultEligibilityPolicy, toPeerView, type EligibilityPolicy } from '../scheduler/eligibility.ts'
import { MdnsPeerSource } from '../scheduler/mdns-peer-source.ts'
import { MemberLinks } from '../scheduler/member-links.ts'
import type { PeerView } from '../scheduler/peer.ts'
import { PeerTable } from '../scheduler/peer-table.ts'
import { RunDerivations } from '../scheduler/run-derivations.ts'
import { defaultPlanPolicy } from '../scheduler/plan-build.ts'
import { LocalBuilds } from '../scheduler/local-builds.ts'
import { Reservations } from '../scheduler/reservations.ts'
import { sshHandshake } from '../scheduler/ssh-handshake.ts'
import { SshReachability } from '../scheduler/ssh-reachability.ts'
import { WaitingBuilds } from '../scheduler/waiting-builds.ts'
import type { Advertisement } from '../wire/advertisement.ts'
import { osFields } from '../wire/status.ts'
import { Advertiser } from './advertiser.ts'
import { AuthorizeServer } from './authorize-server.ts'
import { AuthorizedKeysFile } from './authorized-keys.ts'
import { ControlServer } from './control-server.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { MeshNode } from './mesh-node.ts'
import { loadPerCore, probeHost, probeLiveStatus, type HostFacts, type ProbeDeps, type ProbeOverrides } from './probe/index.ts'
import { countBuildsInProgress } from './probe/slots-in-use.ts'
import { loadOrCreateSshKeyPair } from './ssh-key-pair.ts'
import { StatusServer, type StatusSnapshot } from './status-server.ts'

export interface AgentConfig {
  /** Offer this host as a builder. */
  builder: boolean
  /** Discover peers and write this host's builder lists. */
  master: boolean
  overrides: ProbeOverrides
  meshKeyPath: string
  stateDir: string
  p2pPort: number
  nixMachinesPath?: string | undefined
  guixMachinesPath?: string | undefined
  /** The master's SSH private key, named in the lists; created when missing. */
  sshKeyPath: string
  /** The authorized_keys file this builder owns and sshd reads for the build user. */
  authorizedKeysPath: string
  socketPath: string
  interface?: string | undefined
  overloadThreshold: number
  /** How long a peer silent on mDNS stays in the table. */
  peerTimeoutMs?: number
  /** How long a peer's last status counts. */
  statusTimeoutMs?: number
  heartbeatMs?: number
  /** How long a builder keeps a disconnected master's SSH key. */
  revokeAfterMs?: number
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
  private planner: BuildPlanner | undefined

  constructor (components: AgentComponents, config: AgentConfig) {
    this.components = components
    this.config = config
  }

  async start (): Promise<void> {
    if (this.started.length > 0) return
    try {
      await this.startParts()
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  async stop (): Promise<void> {
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

  peers (): PeerView[] {
    const now = this.components.clock.now()
    return this.table?.list().map((p) => toPeerView(p, this.policy, now)) ?? []
  }

  self (): { builder: Advertisement | null, master: boolean } {
    return { builder: this.advertiser?.current ?? null, master: this.config.master }
  }

  private async run<T extends Part> (part: T): Promise<T> {
    await part.start()
    this.started.push(part)
    return part
  }

  private async startParts (): Promise<void> {
    const { log, clock, probeDeps } = this.components
    const config = this.config
    // Nothing is offered or scheduled without membership: fail before touching the network.
    const meshKey = await readMeshKey(config.meshKeyPath)
    // A master probes itself too: its own cores are a candidate for every build.
    const facts = await probeHost(probeDeps, config.overrides)
    const sshKeyPair = config.master ? await loadOrCreateSshKeyPair(config.sshKeyPath, log) : undefined
    const privateKey = await loadOrCreateIdentity(config.stateDir, log)

    const node = await this.run(new MeshNode({ log }, { privateKey, meshKey, port: config.p2pPort }))
    const mdns = await this.run(new MdnsEndpoint({ interface: config.interface, log }))

    if (config.builder) {
      await this.run(new StatusServer({ node, clock, log, snapshot: this.snapshotter(facts) }, { heartbeatMs: config.heartbeatMs }))
      const keys = new AuthorizedKeysFile({ path: config.authorizedKeysPath, log })
      await this.run(new AuthorizeServer({ node, keys, clock, log }, { revokeAfterMs: config.revokeAfterMs }))
      this.advertiser = await this.run(new Advertiser({
        mdns, clock, log, sampleLiveStatus: async () => await probeLiveStatus(probeDeps, facts)
      }, { advertisement: { ...advertisedFacts(facts), peerId: node.peerId, p2pPort: node.port }, port: facts.sshPort }))
    }
    this.policy = { ...defaultEligibilityPolicy, localName: facts.name }
    if (sshKeyPair !== undefined) {
      const table = new PeerTable({ clock, log }, { expireAfterMs: config.peerTimeoutMs, statusTimeoutMs: config.statusTimeoutMs })
      table.follow(new MdnsPeerSource({ mdns, clock, log }, { queryIntervalMs: config.queryIntervalMs }))
      this.table = await this.run(table)
      await this.run(new MemberLinks({ node, table, clock, log }, {
        sshPublicKey: sshKeyPair.publicKey,
        masterName: facts.name
      }))
      const sshChecks = await this.run(new SshReachability({ table, clock, log, check: sshHandshake }))
      const history = new BuildHistory()
      const waiting = new WaitingBuilds(defaultPlanPolicy.pollSeconds)
      const localBuilds = await this.run(new LocalBuilds({
        clock,
        onDone: (build, seconds) => {
          history.record(build.name, seconds * build.rate, build.bigParallel)
          waiting.buildEnded(clock.now() / 1000, build.nixRun)
        }
      }))
      await this.run(new BuildHistoryFile({ history, clock, log }, { path: join(config.stateDir, 'build-history.json') }))
      this.planner = new BuildPlanner({
        table,
        reservations: new Reservations(clock),
        localBuilds,
        history,
        waiting,
        dependents: new StoreDependents({ log, clock }),
        runs: new RunDerivations(clock),
        sshChecks,
        hostNames: new HostNames({ clock, lookup: systemLookup }),
        clock,
        // Asked for every request of Nix's: the load alone, no statfs, since free disk does not rank the master.
        local: async () => {
          const { name, systems, supportedFeatures, mandatoryFeatures, slots, cores, speed } = facts
          return { name, systems, supportedFeatures, mandatoryFeatures, slots, slotsInUse: 0, cores, speed, load: loadPerCore(probeDeps, cores) }
        }
      }, { sshKeyPath: sshKeyPair.privateKeyPath, eligibility: this.policy, plan: { overloadThreshold: config.overloadThreshold } })
      await this.run(new BuilderListWriter({ table, log }, {
        nixMachinesPath: config.nixMachinesPath,
        guixMachinesPath: config.guixMachinesPath,
        sshKeyPath: sshKeyPair.privateKeyPath,
        overloadThreshold: config.overloadThreshold,
        policy: this.policy
      }))
    }
    const planner = this.planner
    await this.run(new ControlServer({
      log,
      handlers: {
        peers: () => this.peers(),
        self: () => this.self(),
        ...(planner === undefined
          ? {}
          : {
              builders: (params) => planner.builders(params),
              decide: async (params) => await planner.decide(params),
              release: (params) => planner.release(params)
            })
      }
    }, { path: config.socketPath }))
  }

  /**
   * Every connected master gets a status each heartbeat; scanning /proc for builds costs a few
   * milliseconds, so masters share one snapshot per heartbeat instead of one each.
   */
  private snapshotter (facts: HostFacts): () => Promise<StatusSnapshot> {
    const { clock } = this.components
    const maxAgeMs = (this.config.heartbeatMs ?? 500) * 0.8
    let last: { at: number, snapshot: Promise<StatusSnapshot> } | undefined
    return async () => {
      const now = clock.now()
      if (last === undefined || now - last.at >= maxAgeMs) last = { at: now, snapshot: this.snapshot(facts) }
      return await last.snapshot
    }
  }

  private async snapshot (facts: HostFacts): Promise<StatusSnapshot> {
    const { probeDeps } = this.components
    const [live, slotsInUse] = await Promise.all([probeLiveStatus(probeDeps, facts), countBuildsInProgress(probeDeps)])
    return {
      name: facts.name,
      systems: facts.systems,
      supportedFeatures: facts.supportedFeatures,
      mandatoryFeatures: facts.mandatoryFeatures,
      slots: facts.slots,
      slotsInUse: Math.min(slotsInUse, facts.slots),
      cores: facts.cores,
      speed: facts.speed,
      load: live.load,
      freeDiskBytes: live.freeDiskBytes,
      sshUser: facts.sshUser,
      sshPort: facts.sshPort,
      hostKey: facts.hostKey,
      version: BUILDMESH_VERSION,
      // Read each time: a host may be renamed, or a kernel replaced by live patching, while the agent runs.
      ...osFields({ kernel: release(), arch: machine(), hostName: hostname() })
    }
  }
}

/** The probed facts that go on the LAN; the host key goes only over the authenticated stream. */
function advertisedFacts (facts: HostFacts): Omit<Advertisement, 'peerId' | 'p2pPort'> {
  const { name, systems, supportedFeatures, mandatoryFeatures, slots, speed, load, freeDiskBytes, sshUser, sshPort } = facts
  return { name, systems, supportedFeatures, mandatoryFeatures, slots, speed, load, freeDiskBytes, sshUser, sshPort, hostKey: null }
}
