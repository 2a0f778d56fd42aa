import type { Writable } from 'node:stream'
import { inputAfterAccept } from './accepted-input.ts'
import { builderScope, listedHosts, storeUri, type BuilderScope, type ReadText } from './builders.ts'
import { decideParams, planFromAnswer, type Plan } from './decision.ts'
import { buildElsewhere, seeThrough, type FailoverComponents, type LostBuild } from './failover.ts'
import { OutsideBuilders } from './outside-builders.ts'
import { encodeSettings, encodeTry, readSettings, readTry, settingValue, type Setting, type TryRequest } from './messages.ts'
import { buildsHere, localMaxJobs, pollInterval } from './run-settings.ts'
import { NixLevel, type NixLog } from './nix-log.ts'
import { WireReader } from './protocol.ts'
import { exitCode, type RealHook, type StderrMode } from './real-hook.ts'
import { RunRoots, type ReadRoots } from './run-roots.ts'
import { sshDestinations, type SshHostName } from './ssh-destinations.ts'
import { StandingDeclines } from './standing-declines.ts'
import type { ReleaseOutcome } from '../../wire/control.ts'

export interface BuildHookComponents {
  /** What Nix writes to the hook: its stdin. */
  input: AsyncIterable<Buffer | string>
  /** Where Nix reads answers and log lines: the hook's stderr. */
  output: Writable
  /** One request to the local agent's control socket; throws if the agent cannot answer. */
  askAgent: (method: 'decide' | 'release', params: unknown) => Promise<unknown>
  readText: ReadText
  /** Starts Nix's own build hook. */
  startRealHook: (mode: StderrMode) => Promise<RealHook>
  /** What ssh connects to for a host the setting names; without, the agent resolves the names as they are. */
  sshHostName?: SshHostName
  log: NixLog
  /** Waits between asks for another builder after one was lost mid-build, on the clock of `now` (ms). */
  sleep?: (ms: number) => Promise<void>
  now?: () => number
}

export interface BuildHookInit {
  /** The agent's Nix machines file: `builders = @THAT` leaves the choice to the agent. */
  agentMachinesFile: string
  /** The run of Nix this hook serves (its parent's pid), for the agent to keep runs apart. */
  nixRun?: number
  /** This hook's pid: a build it accepts runs, for Nix, while this process does. */
  hookPid?: number
  /** The run's temporary roots, which name its derivations; without, the agent counts every referrer in the store. */
  runRoots?: ReadRoots
}

type RemoteOutcome =
  | { kind: 'built', code: number }
  | { kind: 'answered' }
  /** Nix's hook ended or misbehaved before answering: the request is still open. */
  | { kind: 'failed', why: string }

const DECIDED = {
  local: 'build here',
  impossible: 'no machine can build it',
  postpone: 'every machine that can build it is busy: later',
  ahead: 'still waits, as the agent answered ahead',
  untilEnd: 'waits for one of this run\'s builds to end'
} as const

/**
 * Nix's build hook, standing in for Nix's own: each `try` is decided by the agent on live data.
 * Where the agent picks a builder, Nix's own hook does the work (copying, building over SSH,
 * copying back) with `builders` set to that one machine, and once it accepts this process only
 * passes bytes through. If the agent cannot decide, Nix's own hook takes over with everything
 * Nix sent, so a build never fails because the agent is down.
 */
export class BuildHookProxy {
  private readonly components: BuildHookComponents
  private readonly init: BuildHookInit
  private readonly reader: WireReader
  private readonly standing: StandingDeclines
  private readonly roots: RunRoots | undefined
  /** What the run's ssh connects to for the setting's hosts it knows by another name. */
  private destinations: Promise<Record<string, string>> | undefined

  constructor (components: BuildHookComponents, init: BuildHookInit) {
    this.components = components
    this.init = init
    this.reader = new WireReader(components.input)
    this.standing = new StandingDeclines(() => performance.now())
    this.roots = init.runRoots === undefined ? undefined : new RunRoots(init.runRoots)
  }

  /** Serves Nix until it is done with this hook; resolves to the hook's exit code. */
  async run (): Promise<number> {
    const { log } = this.components
    const settings = await readSettings(this.reader)
    const builders = settingValue(settings, 'builders')
    if (builders === undefined) return await this.handOver(settings, null)
    let scope: BuilderScope
    try {
      scope = await builderScope(builders, this.init.agentMachinesFile, this.components.readText)
    } catch (err) {
      log(NixLevel.warn, `cannot read the builders setting (${(err as Error).message}); Nix's own build hook takes over`)
      return await this.handOver(settings, null)
    }
    if (scope.kind === 'hosts' && scope.hosts.length === 0) {
      // Only stores the agent knows nothing of: they are Nix's own hook's business.
      if (scope.lines.length > 0) return await this.handOver(settings, null)
      // No builders at all (`--builders ''`): remote building is off, as Nix's own hook says.
      this.answer('decline-permanently')
      return 0
    }
    const outside = new OutsideBuilders(this.components.startRealHook, settings, scope.kind === 'agent' ? scope.outside : scope.lines)
    try {
      return await this.serve(settings, scope, outside)
    } finally {
      await outside.stop()
    }
  }

  private async serve (settings: Setting[], scope: BuilderScope, outside: OutsideBuilders): Promise<number> {
    const { log, sshHostName } = this.components
    const pollSeconds = pollInterval(settings)
    const named = listedHosts(scope)
    // Asked while Nix sends its first request; the first answer waits for it.
    if (sshHostName !== undefined && named.length > 0) this.destinations = sshDestinations(named, sshHostName)
    for (;;) {
      const request = await readTry(this.reader)
      if (request === null) return 0
      if (this.standing.serves(request.drvPath, request.amWilling)) {
        log(NixLevel.talkative, `${request.drvPath}: ${DECIDED.ahead}`)
        this.answer('decline')
        continue
      }
      let plan: Plan
      try {
        const run = { nixRun: this.init.nixRun, hookPid: this.init.hookPid, pollSeconds, roots: this.roots?.next(), destinations: await this.destinations }
        const answer = await this.components.askAgent('decide', decideParams(request, scope, localMaxJobs(settings), this.standing.takeServed(), run))
        this.roots?.heldByAgent((answer as { runRootsHeld?: unknown } | null)?.runRootsHeld)
        plan = planFromAnswer(answer, scope)
      } catch (err) {
        log(NixLevel.warn, `the agent cannot decide (${(err as Error).message}); Nix's own build hook takes over`)
        return await this.handOver(settings, request)
      }
      if (plan.kind === 'answer') {
        this.standing.replace(plan.declines, request.amWilling, plan.at)
        // No machine of the mesh takes it now: one the setting names outside the mesh may.
        const waits = plan.decided !== 'local' || !request.amWilling
        const elsewhere = waits ? await this.buildOutside(outside, request, plan) : undefined
        if (elsewhere?.kind === 'built') return elsewhere.code
        if (elsewhere !== undefined) continue
        log(NixLevel.talkative, `${request.drvPath}: ${plan.decided === 'local' && !request.amWilling ? DECIDED.untilEnd : DECIDED[plan.decided]}`)
        this.answer(plan.reply)
        continue
      }
      log(NixLevel.talkative, `${request.drvPath}: build on ${plan.host}`)
      const outcome = await this.buildRemotely(settings, request, plan, scope)
      if (outcome.kind === 'built') return outcome.code
      if (outcome.kind === 'failed') {
        log(NixLevel.warn, `${outcome.why}; Nix's own build hook takes over`)
        return await this.handOver(settings, request)
      }
    }
  }

  /**
   * A build no machine of the mesh takes now, offered to Nix's own hook with the machines the
   * setting names outside the mesh. Undefined when none of them could build it (or that hook
   * failed us): the agent's answer stands. Where only they could build it, that hook's answer is
   * Nix's; else a machine of the mesh will have a slot, so the build waits for one or the other.
   */
  private async buildOutside (outside: OutsideBuilders, request: TryRequest, plan: Plan & { kind: 'answer' }): Promise<RemoteOutcome | undefined> {
    const { log, output } = this.components
    let offered
    try {
      offered = await outside.offer(request, plan.strangers, output)
    } catch (err) {
      log(NixLevel.warn, `cannot start Nix's build hook for the machines outside the mesh: ${(err as Error).message}`)
      return undefined
    }
    if (offered === undefined) return undefined
    const { hook, reply } = offered
    if (reply === null) {
      log(NixLevel.warn, 'Nix\'s build hook for the machines outside the mesh ended without answering')
      return undefined
    }
    if (reply.answer === 'accept') {
      log(NixLevel.talkative, `${request.drvPath}: build on a machine outside the mesh`)
      this.answer('accept')
      const { buffered, rest } = this.reader.detach()
      void hook.write(buffered).then(async () => { await hook.pipeIn(rest) })
      const { code } = await seeThrough(this.failover(), hook, reply.rest, undefined)
      return { kind: 'built', code }
    }
    log(NixLevel.talkative, `${request.drvPath}: the machines outside the mesh answered ${reply.answer}`)
    // Where only they could build it, a build they postpone waits for them; else the agent's answer
    // stands, and one waiting for a build of the run to end (a decline) is asked sooner than a poll.
    this.answer(plan.decided === 'impossible' && reply.answer === 'postpone' ? 'postpone' : plan.reply)
    return { kind: 'answered' }
  }

  /**
   * Nix's own hook, given the one machine the agent chose; the result is passed on. Nix asks
   * about no other build until it has this one's answer, and Nix's own hook answers only once it
   * has connected over SSH, a few hundred ms: where a machine that turned the build down would
   * not have Nix build it here now anyway (Nix has no free slot, the setting keeps its builds
   * off this host, or this host has not its system or features), it is accepted at once
   * (`acceptAtOnce`). Else the answer waits for Nix's own hook's, so that a machine that turns
   * it down leaves Nix free to build it here.
   */
  private async buildRemotely (settings: Setting[], request: TryRequest, plan: Plan & { kind: 'remote' }, scope: BuilderScope): Promise<RemoteOutcome> {
    let hook: RealHook
    try {
      hook = await this.components.startRealHook('watch')
    } catch (err) {
      await this.release(plan.reservation, 'failed')
      return { kind: 'failed', why: `cannot start Nix's build hook: ${(err as Error).message}` }
    }
    const buildsHereIfTurnedDown = request.amWilling && scope.kind === 'agent' && buildsHere(settings, request)
    if (!buildsHereIfTurnedDown) return { kind: 'built', code: await this.acceptAtOnce(settings, request, plan, scope, hook) }
    const reply = await hook.offer(settings, plan.nixLine, request, this.components.output)
    if (reply?.answer === 'accept') {
      this.answer('accept')
      // What Nix writes now (the inputs to copy and the outputs to copy back) is kept as it
      // passes, in case the build has to be done again elsewhere.
      const { buffered, rest } = this.reader.detach()
      const input = inputAfterAccept(buffered, rest, hook)
      const failover = this.failover()
      const { code, lost } = await seeThrough(failover, hook, reply.rest, plan.reservation)
      if (!lost) return { kind: 'built', code }
      return { kind: 'built', code: await buildElsewhere(failover, { ...await this.handed(settings, request, scope, plan.host), input: await input, code, refused: false }) }
    }
    await this.release(plan.reservation, reply === null ? 'failed' : 'declined')
    await hook.stop()
    if (reply === null) return { kind: 'failed', why: `Nix's build hook for ${plan.host} ended without answering` }
    switch (reply.answer) {
      case 'postpone':
        this.answer('postpone')
        return { kind: 'answered' }
      case 'decline':
      case 'decline-permanently':
        // That machine failed us (unreachable, slots taken): Nix, with a free slot, builds here.
        this.components.log(NixLevel.talkative, `${request.drvPath}: ${plan.host} declined`)
        this.answer('decline')
        return { kind: 'answered' }
      default:
        return { kind: 'failed', why: `Nix's build hook for ${plan.host} answered ${JSON.stringify(reply.answer)}` }
    }
  }

  /**
   * Accepts the build for Nix before Nix's own hook has connected, so Nix goes on to its next
   * build meanwhile. What Nix writes after the accept (the inputs to copy, the outputs to copy
   * back) is held until that hook takes the build too; should it not (the machine cannot be
   * reached, or another Nix holds its slots), the agent picks another, as for a lost builder.
   */
  private async acceptAtOnce (settings: Setting[], request: TryRequest, plan: Plan & { kind: 'remote' }, scope: BuilderScope, hook: RealHook): Promise<number> {
    this.answer('accept')
    // Nix reads the store the build goes to once, right after the accept.
    this.components.output.write(`${storeUri(plan.nixLine)}\n`)
    const { buffered, rest } = this.reader.detach()
    const input = inputAfterAccept(buffered, rest)
    const reply = await hook.offer(settings, plan.nixLine, request, this.components.output)
    const failover = this.failover()
    const handed = await this.handed(settings, request, scope, plan.host)
    if (reply?.answer !== 'accept') {
      await this.release(plan.reservation, reply === null ? 'failed' : 'declined')
      await hook.stop()
      return await buildElsewhere(failover, { ...handed, input: await input, code: 1, refused: true })
    }
    void input.then(async (bytes) => { await hook.send(bytes) })
    const { code, lost } = await seeThrough(failover, hook, await hook.skipLine(reply.rest), plan.reservation)
    return lost ? await buildElsewhere(failover, { ...handed, input: await input, code, refused: false }) : code
  }

  /** What the failover needs of a build Nix handed over to go to `host`, but for how that went. */
  private async handed (settings: Setting[], request: TryRequest, scope: BuilderScope, host: string): Promise<Omit<LostBuild, 'input' | 'code' | 'refused'>> {
    return { settings, request, scope, lostHost: host, nixRun: this.init.nixRun, destinations: await this.destinations }
  }

  /**
   * Nix's own hook for the rest of this process, as if Nix had started it: the settings as Nix
   * sent them, the request still open, and everything after, its stderr straight to Nix.
   */
  private async handOver (settings: Setting[], open: TryRequest | null): Promise<number> {
    let hook: RealHook
    try {
      hook = await this.components.startRealHook('inherit')
    } catch (err) {
      this.components.log(NixLevel.error, `cannot start Nix's build hook: ${(err as Error).message}`)
      if (open === null) return 1
      // Nix then builds everything here, rather than failing the build.
      this.answer('decline-permanently')
      return 0
    }
    const { buffered, rest } = this.reader.detach()
    void hook.write(Buffer.concat([encodeSettings(settings), open === null ? Buffer.alloc(0) : encodeTry(open), buffered]))
      .then(async () => { await hook.pipeIn(rest) })
    return exitCode(await hook.exited)
  }

  private answer (reply: 'accept' | 'decline' | 'postpone' | 'decline-permanently'): void {
    this.components.output.write(`# ${reply}\n`)
  }

  /** Gives the reservation back, saying how its build ended; true when the agent says its builder is lost. */
  private async release (reservation: string | undefined, outcome: ReleaseOutcome): Promise<boolean> {
    if (reservation === undefined) return false
    try {
      const answer = await this.components.askAgent('release', { reservation, outcome })
      return (answer as { lost?: unknown } | null)?.lost === true
    } catch (err) {
      this.components.log(NixLevel.talkative, `cannot release reservation ${reservation}: ${(err as Error).message}`)
      return false
    }
  }

  private failover (): FailoverComponents {
    const { askAgent, startRealHook, output, log } = this.components
    return {
      askAgent,
      startRealHook,
      output,
      log,
      sleep: this.components.sleep ?? (async (ms) => { await new Promise((resolve) => setTimeout(resolve, ms)) }),
      now: this.components.now ?? (() => performance.now()),
      release: async (reservation, outcome) => await this.release(reservation, outcome)
    }
  }
}
