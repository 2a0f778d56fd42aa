import type { Clock } from '../common/clock.ts'
import { currentAdvertisement, eligibleBuilders, ineligibleReason, type EligibilityPolicy } from './eligibility.ts'
import { renderNixMachines } from './nix-machines.ts'
import type { Builder, Peer } from './peer.ts'
import type { HostNames } from './host-names.ts'
import { awaitsListedBuilder, listedMembers, strangers } from './listed-builders.ts'
import type { LocalBuilds } from './local-builds.ts'
import type { PeerTable } from './peer-table.ts'
import { BuildHistory } from './build-history.ts'
import { chainAfter, type StoreDependents } from './dependents.ts'
import type { NixRun } from './nix-run.ts'
import { parseBuilderSelection, parseDecideRequest, parseReleaseRequest, type DecideRequest } from './hook-requests.ts'
import { canStartNow, expectedRate, fastestSeconds, isBigParallel, planBuild, runningWork, threadsOf, type BuildRequest, type Candidate, type PlanPolicy } from './plan-build.ts'
import { FORECAST_PLANS, forecastDeclines } from './round-forecast.ts'
import type { Reservations } from './reservations.ts'
import type { RunDerivations } from './run-derivations.ts'
import type { SshReachability } from './ssh-reachability.ts'
import type { WaitingBuilds } from './waiting-builds.ts'

/** The master itself, as a candidate: its facts now. */
export type LocalCandidate = () => Promise<Omit<Candidate, 'local'>>

export interface BuildPlannerComponents {
  table: PeerTable
  reservations: Reservations
  local: LocalCandidate
  localBuilds: LocalBuilds
  history: BuildHistory
  /** The builds Nix was told to wait for; shared with LocalBuilds' onDone, which reports local ends. */
  waiting: WaitingBuilds
  /** The builds still to come that wait for a derivation, from the store; without, no build has a chain after it. */
  dependents?: Pick<StoreDependents, 'of'>
  /** Each run's own derivations, from its temporary roots: only those count in a chain. */
  runs?: RunDerivations
  /** The builders' SSH checks, run at once for a builder that Nix's own hook would not build on. */
  sshChecks?: Pick<SshReachability, 'checkNow' | 'isSuspect'>
  /** What the host names in Nix's setting resolve to; without, a member is named by its address or host name only. */
  hostNames?: Pick<HostNames, 'addresses'>
  clock: Clock
}

export interface BuildPlannerInit {
  sshKeyPath: string
  eligibility: EligibilityPolicy
  plan: PlanPolicy
}

export interface DecideAnswer {
  kind: 'local' | 'remote' | 'postpone' | 'impossible'
  host?: string
  /**
   * With `allowedHosts`: the allowed host the builder is, where the setting names it otherwise
   * (`ssh-ng://ruby`): the line is still the mesh's own, by address, with the builder's host key.
   */
  listedAs?: string
  nixLine?: string
  reservation?: string
  /**
   * With `forecast`: the derivations Nix will ask about next in this round, in order, that the
   * hook may itself tell to keep waiting (decline), reporting them as `served` next time.
   */
  declines?: string[]
  /** With `declines`: when the agent answered, on its clock (ms); the hook reports them served as of then. */
  at?: number
  /** With `nixRun` in the request: the bytes of the run's roots file the agent holds. */
  runRootsHeld?: number
  /** With `allowedHosts` or `outsideHosts`: those no member of the mesh has, which Nix's own hook may build on. */
  strangers?: string[]
}

/**
 * The longest an answer waits for the store (a query takes about 20 ms). Nix waits for the
 * answer, and so do other clients' answers behind it; past this the build is planned without its
 * chain, and the query, which goes on, serves the next ask.
 */
const STORE_WAIT_MS = 1000

const latest = (...ends: Array<number | undefined>): number | undefined => {
  const known = ends.filter((e) => e !== undefined)
  return known.length === 0 ? undefined : Math.max(...known)
}

/**
 * The master's answers to `mesh builders` and to the build hook: which builders, and where one
 * build should go. Works from the live peer table; the hook's requests are validated here
 * like anything else that reaches the agent.
 */
export class BuildPlanner {
  private readonly components: BuildPlannerComponents
  private readonly init: BuildPlannerInit
  /** The answer being worked out; the next waits for it (`decide`). */
  private turn: Promise<unknown> = Promise.resolve()

  constructor (components: BuildPlannerComponents, init: BuildPlannerInit) {
    this.components = components
    this.init = init
  }

  /** Eligible builders matching a selection, every name the master knows, and what its lists say besides. */
  builders (params: unknown): { builders: Builder[], known: string[], sshKeyPath: string, overloadThreshold: number } {
    const { only, exclude, system, features = [] } = parseBuilderSelection(params)
    const peers = this.components.table.list()
    const builders = eligibleBuilders(peers, this.init.eligibility).filter((b) => {
      const ad = b.advertisement
      return (only === undefined || only.includes(ad.name)) &&
        (exclude === undefined || !exclude.includes(ad.name)) &&
        (system === undefined || ad.systems.includes(system)) &&
        features.every((f) => ad.supportedFeatures.includes(f) || ad.mandatoryFeatures.includes(f))
    })
    return { builders, known: [...new Set(peers.map((peer) => peer.name))], sshKeyPath: this.init.sshKeyPath, overloadThreshold: this.init.plan.overloadThreshold }
  }

  /**
   * Where one build should go. One answer at a time: each nix-daemon client has its own worker
   * and hooks, and two asking at once would each plan on the slots as they were before the other
   * took one (an answer waits on the store for up to a query's 20 ms).
   */
  async decide (params: unknown): Promise<DecideAnswer> {
    const request = parseDecideRequest(params)
    const named = [...request.allowedHosts ?? [], ...request.outsideHosts ?? []]
    const destinations = request.sshHostNames ?? new Map<string, string>()
    const lookedUp = named.map((host) => destinations.get(host) ?? host)
    // Before its turn: a name seen for the first time waits for its lookup, the others' answers do not.
    const resolved = named.length === 0 || this.components.hostNames === undefined ? new Map() : await this.components.hostNames.addresses(lookedUp)
    const answer = this.turn.then(async () => {
      const held = this.takeRunRoots(request.nixRun, request.runRoots)
      const listed = listedMembers(named, this.components.table.list(), resolved, destinations)
      const allowed = request.allowedHosts === undefined ? undefined : new Map(request.allowedHosts.map((host) => [host, listed.get(host)]))
      const decided = await this.decideNow(request, allowed)
      const unknown = strangers(listed)
      return { ...decided, ...(held === undefined ? {} : { runRootsHeld: held }), ...(unknown.length === 0 ? {} : { strangers: unknown }) }
    })
    this.turn = answer.catch(() => {})
    return await answer
  }

  /** The piece of the run's roots the hook sent, if any, taken before the answer that may use it. */
  private takeRunRoots (nixRun: NixRun | undefined, roots: unknown): number | undefined {
    if (nixRun === undefined || this.components.runs === undefined) return undefined
    return this.components.runs.add(nixRun, roots)
  }

  /** `allowed`: the hosts a restricted build may use (`allowedHosts`), and the member each is. */
  private async decideNow (p: DecideRequest, allowed: Map<string, Peer | undefined> | undefined): Promise<DecideAnswer> {
    const { localBuilds, waiting } = this.components
    const { drvPath, nixRun, served, maxJobs, pollSeconds } = p
    // The run's own poll interval decides what a postpone costs it.
    const policy = pollSeconds === undefined ? this.init.plan : { ...this.init.plan, pollSeconds }
    // Told to keep waiting when the agent answered ahead, not now: a build that ended since then
    // has Nix ask them again, as it would have had the agent answered them one by one.
    const before = this.components.clock.now()
    const servedAt = Math.min(before, Math.max(before - 60_000, p.servedAt ?? before)) / 1000
    for (const s of served) waiting.askedAgain(s, servedAt)
    // Then: a local build found finished here tells `waiting` that Nix is asking its waiters again.
    const localRunning = await localBuilds.running(drvPath, nixRun)
    // After any end learnt just now: what this answer tells to wait was told so after it.
    const nowMs = this.components.clock.now()
    const now = nowMs / 1000
    waiting.asked(drvPath, now)
    const name = BuildHistory.nameOf(drvPath)
    const request: BuildRequest = {
      system: p.system,
      requiredFeatures: p.requiredFeatures,
      // Nix says it is willing for every derivation of a batch; what we already kept local counts too.
      amWilling: p.amWilling && (maxJobs === undefined || localRunning < maxJobs),
      expectedWork: this.components.history.expected(name),
      typicalWork: this.components.history.typical(),
      typicalBigParallelWork: this.components.history.typicalBigParallel()
    }
    // A build restricted to named hosts (`mesh build --only`) must not quietly run here instead;
    // nor can one that Nix already handed to the hook, whose builder was lost (`remoteOnly`).
    const remotes = this.remoteCandidates(allowed)
    const candidates: Candidate[] = [...remotes.map((r) => r.candidate)]
    if (allowed === undefined && !p.remoteOnly) {
      const local = await this.components.local()
      // The load average shows what we started here only a minute late, and counts nothing of it
      // at first: so every run's builds count now, a big-parallel one by the cores it keeps busy.
      const busy = localBuilds.all(drvPath).reduce((n, b) => n + threadsOf(local.cores, b.bigParallel === true, this.init.plan), 0)
      const load = Math.max(local.load, Math.min(1, busy / Math.max(1, local.cores)))
      candidates.push({ ...local, load, slots: maxJobs ?? local.slots, slotsInUse: localRunning, local: true, endsIn: localBuilds.endsIn(nixRun) })
    }
    // Told to keep waiting by the hook, not asked: the chain the store has found since, as an ask would.
    for (const { key, build } of waiting.withoutChain(served)) {
      const chain = await this.chainOf(key, { ...request, ...build }, candidates, false, nixRun)
      if (chain !== undefined) waiting.setChain(key, chain)
    }
    request.queue = waiting.queue(now, candidates)
    // Told to wait whatever its chain, Nix need not wait for a query of the store (20 ms): that
    // runs meanwhile, and the chain counts from the next time Nix asks.
    request.chainAfter = await this.chainOf(drvPath, request, candidates, canStartNow(request, candidates, this.init.plan), nixRun)
    request.runningChainsEndIn = latest(localBuilds.chainsEndIn(), this.components.reservations.chainsEndIn())
    // A build handed to the hook already is not Nix's to wait with.
    if (!p.remoteOnly) request.remoteRunning = this.components.reservations.ofRun(nixRun)
    const planned = planBuild(request, candidates, policy)
    const decision = planned.kind === 'impossible' && allowed !== undefined && awaitsListedBuilder(allowed, request)
      ? { kind: 'postpone' as const }
      : planned
    const rateOn = (c: Candidate): number => expectedRate(c, request, this.init.plan)
    const work = runningWork(request, request, this.init.plan)
    const chain = request.chainAfter
    const bigParallel = isBigParallel(request)
    // `local` without a free local slot means "wait for one": Nix starts nothing yet.
    const local = candidates.find((c) => c.local)
    if (decision.kind === 'local' && request.amWilling && local !== undefined) await localBuilds.add(drvPath, { name, rate: rateOn(local), work, chainAfter: chain, bigParallel, nixRun })
    else localBuilds.remove(drvPath)
    // `local` without a slot has Nix wait for one of its builds to end; a postpone, for its next poll.
    if (decision.kind === 'local' && !request.amWilling) waiting.wait(drvPath, request, 'build-end', now, nixRun)
    if (decision.kind === 'postpone') waiting.wait(drvPath, request, 'poll', now, nixRun, pollSeconds)
    if (decision.kind !== 'remote') {
      if (!p.forecast) return { kind: decision.kind }
      const startedHere = decision.kind === 'local' && request.amWilling
      const after = startedHere ? candidates.map((c) => c.local ? { ...c, slotsInUse: c.slotsInUse + 1, endsIn: localBuilds.endsIn(nixRun) } : c) : candidates
      const amWilling = p.amWilling && (maxJobs === undefined || localRunning + (startedHere ? 1 : 0) < maxJobs)
      return { kind: decision.kind, declines: this.roundAhead(drvPath, { ...request, amWilling }, after, now, nixRun, policy), at: nowMs }
    }
    const chosen = remotes.find((r) => r.candidate.name === decision.name)
    if (chosen === undefined) {
      waiting.wait(drvPath, request, 'poll', now, nixRun, pollSeconds)
      return { kind: 'postpone' }
    }
    const listedAs = allowed === undefined ? undefined : [...allowed].find(([, peer]) => peer?.key === chosen.peer.key)?.[0]
    return {
      kind: 'remote',
      host: chosen.builder.host,
      ...(listedAs === undefined || listedAs === chosen.builder.host ? {} : { listedAs }),
      nixLine: renderNixMachines([chosen.builder], { sshKeyPath: this.init.sshKeyPath }).trimEnd(),
      reservation: this.components.reservations.reserve({ peer: chosen.peer.key, name, rate: rateOn(chosen.candidate), work, chainAfter: chain, bigParallel, nixRun, hook: p.hookPid })
    }
  }

  /** The rest of run `nixRun`'s round of questions after `drvPath`, answered ahead as the state is now. */
  private roundAhead (drvPath: string, request: BuildRequest, candidates: Candidate[], now: number, nixRun: NixRun | undefined, policy: PlanPolicy): string[] {
    const { localBuilds, reservations, waiting } = this.components
    return forecastDeclines({
      after: drvPath,
      waiting,
      nixRun,
      candidates,
      common: {
        amWilling: request.amWilling,
        typicalWork: request.typicalWork,
        typicalBigParallelWork: request.typicalBigParallelWork,
        // Not `remoteRunning`: a waiter the hook tells to keep waiting itself could be told so
        // after the run's last remote build ended, with nothing left for Nix to wait for.
        runningChainsEndIn: latest(localBuilds.chainsEndIn(), reservations.chainsEndIn())
      },
      now,
      policy,
      maxPlans: FORECAST_PLANS
    }).declines
  }

  /**
   * The hook's word that a build sent to a builder is over. Only a build that ended with its
   * outputs back teaches the history its wall time: a failed one's, or the moment Nix's own hook
   * took to find the builder unreachable, says nothing of its work. A builder Nix's own hook
   * would not build on, or that a build failed on, is checked over SSH at once; for a failed
   * build the answer says whether the builder is lost (gone from the mesh, no longer eligible,
   * or its sshd not answering), so the hook can build it elsewhere rather than fail it.
   */
  async release (params: unknown): Promise<{ released: boolean, lost?: boolean }> {
    const { reservation: id, outcome } = parseReleaseRequest(params)
    const { reservations, waiting, clock, history, sshChecks, table } = this.components
    const reservation = reservations.release(id, outcome !== 'declined')
    if (reservation === undefined) return { released: false }
    // The run that sent it asks its waiters again as this build ends.
    waiting.buildEnded(clock.now() / 1000, reservation.nixRun)
    if (outcome === 'built') {
      history.record(reservation.name, (clock.now() - reservation.at) / 1000 * reservation.rate, reservation.bigParallel)
      return { released: true }
    }
    if (outcome === 'declined') {
      // Nix waits for this answer: the next decision will see what the check finds.
      void sshChecks?.checkNow(reservation.peer)
      return { released: true }
    }
    await sshChecks?.checkNow(reservation.peer)
    const peer = table.get(reservation.peer)
    return { released: true, lost: peer === undefined || ineligibleReason(peer, this.init.eligibility, clock.now()) !== null }
  }

  /** How long the builds that wait for this one take after it, each as fast as it can go. */
  private async chainOf (drvPath: string, request: BuildRequest, candidates: Candidate[], waitForStore: boolean, nixRun: NixRun | undefined): Promise<number | undefined> {
    const answer = this.components.dependents?.of(drvPath, { waitForStore })
    const found = waitForStore ? await this.atMost(STORE_WAIT_MS, answer) : await answer
    if (found === undefined) return undefined
    const { history } = this.components
    return chainAfter(drvPath, found.users, (u) => fastestSeconds({
      system: found.facts.get(u)?.system ?? request.system,
      requiredFeatures: found.facts.get(u)?.requiredFeatures ?? [],
      expectedWork: history.expected(BuildHistory.nameOf(u)),
      typicalWork: request.typicalWork,
      typicalBigParallelWork: request.typicalBigParallelWork
    }, candidates, this.init.plan), this.components.runs?.of(nixRun))
  }

  /** What `answer` gives within `ms`, or undefined; the work behind it goes on regardless. */
  private async atMost<T> (ms: number, answer: Promise<T> | undefined): Promise<T | undefined> {
    if (answer === undefined) return undefined
    const { clock } = this.components
    let timer: unknown
    const late = new Promise<undefined>((resolve) => { timer = clock.setTimeout(() => { resolve(undefined) }, ms) })
    try {
      return await Promise.race([answer, late])
    } finally {
      clock.clearTimeout(timer)
    }
  }

  private remoteCandidates (allowed: Map<string, Peer | undefined> | undefined): Array<{ peer: Peer, builder: Builder, candidate: Candidate }> {
    const allowedKeys = allowed === undefined ? undefined : new Set([...allowed.values()].map((peer) => peer?.key))
    const { table, reservations, sshChecks } = this.components
    const result = []
    for (const peer of table.list()) {
      if (ineligibleReason(peer, this.init.eligibility) !== null || sshChecks?.isSuspect(peer.key) === true) continue
      const [builder] = eligibleBuilders([peer], this.init.eligibility)
      const ad = currentAdvertisement(peer)
      if (builder === undefined || ad === null || peer.status === null) continue
      if (allowedKeys !== undefined && !allowedKeys.has(peer.key)) continue
      result.push({
        peer,
        builder,
        candidate: {
          name: ad.name,
          local: false,
          systems: ad.systems,
          supportedFeatures: ad.supportedFeatures,
          mandatoryFeatures: ad.mandatoryFeatures,
          slots: ad.slots,
          slotsInUse: Math.min(ad.slots, Math.max(peer.status.slotsInUse - reservations.endedSince(peer.key, peer.statusAt ?? 0), reservations.count(peer.key))),
          endsIn: reservations.endsIn(peer.key),
          cores: peer.status.cores,
          speed: ad.speed,
          load: ad.load
        }
      })
    }
    return result
  }
}
