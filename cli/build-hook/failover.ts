import type { Writable } from 'node:stream'
import type { ReleaseOutcome } from '../../wire/control.ts'
import type { BuilderScope } from './builders.ts'
import { decideParams, planFromAnswer } from './decision.ts'
import type { Setting, TryRequest } from './messages.ts'
import { NixLevel, type NixLog } from './nix-log.ts'
import { exitCode, type RealHook, type StderrMode } from './real-hook.ts'
import { pollInterval } from './run-settings.ts'

export interface FailoverComponents {
  askAgent: (method: 'decide' | 'release', params: unknown) => Promise<unknown>
  startRealHook: (mode: StderrMode) => Promise<RealHook>
  output: Writable
  log: NixLog
  /** Sleeps between asks while no builder has a slot: Nix's own poll interval. */
  sleep: (ms: number) => Promise<void>
  /** Milliseconds since some fixed point, for the deadline. */
  now: () => number
  /** Gives a reservation back with how its build ended; true when the agent says the builder is lost. */
  release: (reservation: string | undefined, outcome: ReleaseOutcome) => Promise<boolean>
}

/**
 * A build Nix already handed over, whose builder was lost before its outputs came back, or
 * (`refused`) whose builder Nix's own hook would not take it on after the hook had accepted it
 * for Nix.
 */
export interface LostBuild {
  settings: Setting[]
  request: TryRequest
  scope: BuilderScope
  /** What Nix wrote after our accept: the inputs to copy there and the outputs to copy back. */
  input: Buffer
  lostHost: string
  /** Nix's own hook's exit code from the lost builder: what Nix gets if no builder takes it. */
  code: number
  /** The run of Nix it belongs to, as the first decision said. */
  nixRun: number | undefined
  /** What the run's ssh connects to for the setting's hosts it knows by another name. */
  destinations?: Record<string, string>
  /** The build never started on `lostHost`: no machine may be able to take it until that one is back. */
  refused: boolean
}

/** Nix's own `build-poll-interval`, for a run whose settings do not say. */
const NIX_POLL_SECONDS = 5
/** Past this without a builder taking it, the build fails as it did on the lost one. */
const MAX_WAIT_MS = 30 * 60_000
/** Builders lost in turn under one build before it fails: something else is wrong by then. */
const MAX_MOVES = 3

/**
 * Builds a derivation again on another builder after the one it was on was lost (unplugged,
 * shut down, its sshd gone) mid-build, or after the one chosen turned down a build the hook had
 * accepted for Nix already (`acceptAtOnce`). Nix has already had our `accept`, so it can neither
 * build it here nor choose again: Nix's own hook would fail the build, and without a keepalive
 * would wait on the dead connection first. Instead the agent picks another builder, never this
 * host, and Nix's own hook builds there from the same request and input; Nix sees one build
 * that took longer. The new hook's store line is not passed on: Nix reads only the first.
 */
export async function buildElsewhere (c: FailoverComponents, lost: LostBuild): Promise<number> {
  const { request } = lost
  const deadline = c.now() + MAX_WAIT_MS
  // Waiting for a free slot as a postpone would: asked again at the run's polls.
  const pollSeconds = pollInterval(lost.settings)
  const pollMs = (pollSeconds ?? NIX_POLL_SECONDS) * 1000
  let host = lost.lostHost
  let code = lost.code
  for (let moves = 1; moves <= MAX_MOVES; moves++) {
    // The lost host may be the one the setting names, under another name (`listedAs`).
    const only = lost.scope.kind === 'hosts' && lost.scope.hosts.length === 1
    const refused = lost.refused && moves === 1
    const what = refused ? `${host} did not take ${request.drvPath}` : `${host} was lost while building ${request.drvPath}`
    const again = refused ? '' : 'again '
    const next = only ? `building it there ${again}once it is back, the only machine it may use` : 'building it on another machine'
    c.log(NixLevel.warn, `${what}; ${next}`)
    let waited = false
    for (;;) {
      let plan
      try {
        plan = planFromAnswer(await c.askAgent('decide', { ...decideParams(request, lost.scope, undefined, undefined, { nixRun: lost.nixRun, destinations: lost.destinations, pollSeconds }), forecast: false, remoteOnly: true }), lost.scope)
      } catch (err) {
        c.log(NixLevel.error, `the agent cannot find another machine for ${request.drvPath} (${(err as Error).message})`)
        return code
      }
      if (plan.kind === 'remote') {
        const outcome = await buildOn(c, lost, plan)
        if (outcome !== 'declined') {
          if (outcome.code === 0 || !outcome.lost) return outcome.code
          host = plan.host
          code = outcome.code
          break
        }
      }
      // Nothing free now, or the machine chosen would not take it: ask again after a poll. One
      // that turned the build down before it began may be the only one for it: it is waited for.
      if ((plan.kind === 'answer' && plan.decided === 'impossible' && !refused) || c.now() + pollMs > deadline) {
        c.log(NixLevel.error, `no other machine took ${request.drvPath}`)
        return code
      }
      if (!waited) c.log(NixLevel.warn, `no machine that may build ${request.drvPath} has a free slot; asking again every ${pollMs / 1000} s`)
      waited = true
      await c.sleep(pollMs)
    }
  }
  return code
}

/** Nix's own hook on the one machine the agent chose: its exit code, or that it would not take the build. */
async function buildOn (c: FailoverComponents, lost: LostBuild, plan: { host: string, nixLine: string, reservation: string | undefined }): Promise<'declined' | { code: number, lost: boolean }> {
  let hook: RealHook
  try {
    hook = await c.startRealHook('watch')
  } catch (err) {
    c.log(NixLevel.error, `cannot start Nix's build hook: ${(err as Error).message}`)
    await c.release(plan.reservation, 'failed')
    return { code: lost.code, lost: false }
  }
  const reply = await hook.offer(lost.settings, plan.nixLine, lost.request, c.output)
  if (reply?.answer !== 'accept') {
    await c.release(plan.reservation, 'declined')
    await hook.stop()
    return 'declined'
  }
  c.log(NixLevel.warn, `building ${lost.request.drvPath} on ${plan.host}`)
  void hook.send(lost.input)
  return await seeThrough(c, hook, await hook.skipLine(reply.rest), plan.reservation)
}

/**
 * A build Nix's own hook accepted: its output passed on to Nix to the end, and the reservation
 * given back with how it ended. The exit code, and whether the agent says the builder was lost.
 */
export async function seeThrough (c: Pick<FailoverComponents, 'output' | 'release'>, hook: RealHook, rest: Buffer, reservation: string | undefined): Promise<{ code: number, lost: boolean }> {
  await hook.pipeErr(c.output, rest)
  const code = exitCode(await hook.exited)
  if (code === 0) {
    await c.release(reservation, 'built')
    return { code, lost: false }
  }
  return { code, lost: await c.release(reservation, 'failed') }
}
