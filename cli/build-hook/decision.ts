import { BuildmeshError } from '../../common/errors.ts'
import { isDrvPath } from '../../scheduler/derivation.ts'
import type { RunRootsChunk } from '../../scheduler/run-derivations.ts'
import { MAX_ANSWERED_AHEAD } from '../../wire/control.ts'
import { listedHosts, machineHost, type BuilderScope } from './builders.ts'
import type { TryRequest } from './messages.ts'

/** What the hook does with one `try`, decided from the agent's answer. */
export type Plan =
  /**
   * Answer Nix at once: `decline` builds here (or waits for a local slot), `postpone` asks again
   * later. `strangers`: the hosts the setting names that the mesh does not know.
   */
  | { kind: 'answer', reply: 'decline' | 'postpone', decided: 'local' | 'impossible' | 'postpone', declines: string[], at: number | undefined, strangers: string[] }
  /** Let Nix's own hook build it on this one machine. */
  | { kind: 'remote', host: string, nixLine: string, reservation: string | undefined }

/** The agent answered something the hook cannot act on: it is treated like an unreachable agent. */
export class BadDecisionError extends BuildmeshError {
  constructor (why: string) {
    super('ERR_BAD_DECISION', `the agent's decision is unusable: ${why}`)
  }
}

/** The builds the hook told to keep waiting itself, and when the agent had answered them ahead. */
export interface Served {
  drvPaths: string[]
  answeredAt: number | undefined
}

/** The run of Nix the hook serves (its parent's pid), and the piece of its derivations the agent lacks. */
export interface RunOfNix {
  nixRun?: number
  hookPid?: number
  /** Nix's `build-poll-interval`, as its settings say. */
  pollSeconds?: number
  roots?: RunRootsChunk
  /** The hosts the setting names that the run's ssh knows by another name, and that name (`sshDestinations`). */
  destinations?: Record<string, string>
}

/**
 * The `decide` request of the agent's control protocol; it asks the agent to answer the rest of
 * the round ahead, and reports the builds the hook told to keep waiting since it last asked.
 */
export function decideParams (request: TryRequest, scope: BuilderScope, maxJobs: number | undefined, served: Served = { drvPaths: [], answeredAt: undefined }, run: RunOfNix = {}): Record<string, unknown> {
  return {
    ...(maxJobs === undefined ? {} : { maxJobs }),
    ...(run.nixRun === undefined ? {} : { nixRun: run.nixRun }),
    ...(run.hookPid === undefined ? {} : { hookPid: run.hookPid }),
    ...(run.pollSeconds === undefined ? {} : { pollSeconds: run.pollSeconds }),
    ...(run.roots === undefined ? {} : { runRoots: run.roots }),
    system: request.system,
    requiredFeatures: request.requiredFeatures,
    amWilling: request.amWilling,
    drvPath: request.drvPath,
    ...(scope.kind === 'hosts' ? { allowedHosts: scope.hosts } : {}),
    ...(scope.kind === 'agent' && scope.outside.length > 0 ? { outsideHosts: listedHosts(scope) } : {}),
    ...(run.destinations === undefined || Object.keys(run.destinations).length === 0 ? {} : { sshHostNames: run.destinations }),
    forecast: true,
    ...(served.drvPaths.length > 0 ? { served: served.drvPaths, ...(served.answeredAt === undefined ? {} : { servedAt: served.answeredAt }) } : {})
  }
}

/**
 * The agent's answer as a plan. `local` and `impossible` both decline: Nix then builds locally,
 * or reports the system or feature no machine has, exactly as after its own hook's decline.
 * The machine line becomes Nix's whole `builders` setting, so it must be one line that cannot
 * smuggle in a second machine, for a host the setting allows.
 */
export function planFromAnswer (answer: unknown, scope: BuilderScope): Plan {
  if (typeof answer !== 'object' || answer === null) throw new BadDecisionError('not an object')
  const { kind, host, listedAs, nixLine, reservation, declines = [], at, strangers = [] } = answer as Record<string, unknown>
  if (at !== undefined && !Number.isFinite(at)) throw new BadDecisionError('at is not a time')
  switch (kind) {
    case 'local':
    case 'impossible':
      return { kind: 'answer', reply: 'decline', decided: kind, declines: drvPaths(declines), at: at as number | undefined, strangers: unknownHosts(strangers, scope) }
    case 'postpone':
      return { kind: 'answer', reply: 'postpone', decided: kind, declines: drvPaths(declines), at: at as number | undefined, strangers: unknownHosts(strangers, scope) }
    case 'remote': {
      if (typeof nixLine !== 'string' || nixLine.length === 0 || nixLine.length > 16_384) throw new BadDecisionError('remote without a machine line')
      if (/[\n\r;#\0]/.test(nixLine)) throw new BadDecisionError('the machine line holds a line break, ; or #')
      const lineHost = machineHost(nixLine)
      if (lineHost === null) throw new BadDecisionError('the machine line is not an SSH store')
      if (host !== undefined && host !== lineHost) throw new BadDecisionError(`host ${String(host)} is not the machine line's ${lineHost}`)
      // A host the setting names by a name the agent knows as a member's (`listedAs`) is that member.
      const allowedAs = listedAs === undefined ? lineHost : listedAs
      if (scope.kind === 'hosts' && (typeof allowedAs !== 'string' || !scope.hosts.includes(allowedAs))) throw new BadDecisionError(`${String(allowedAs)} is not among the builders Nix allows`)
      if (reservation !== undefined && (typeof reservation !== 'string' || reservation.length > 64)) throw new BadDecisionError('bad reservation id')
      return { kind: 'remote', host: lineHost, nixLine, reservation }
    }
    default:
      throw new BadDecisionError(`unknown kind ${JSON.stringify(kind)}`)
  }
}

/** Only hosts the hook named can be ones the mesh does not know. */
function unknownHosts (value: unknown, scope: BuilderScope): string[] {
  const named = listedHosts(scope)
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || !named.includes(v))) throw new BadDecisionError('strangers holds a host the hook did not name')
  return value as string[]
}

function drvPaths (value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_ANSWERED_AHEAD) throw new BadDecisionError('declines is not a list of derivations')
  for (const v of value) if (typeof v !== 'string' || !isDrvPath(v)) throw new BadDecisionError('declines holds something other than a derivation path')
  return value as string[]
}
