import { UsageError } from '../common/errors.ts'
import { MAX_ANSWERED_AHEAD, RELEASE_OUTCOMES, type ReleaseOutcome } from '../wire/control.ts'
import { validateFeatures, validateSystem } from '../wire/fields.ts'
import { isDrvPath } from './derivation.ts'
import { parseNixRun, parseProcessId, type NixRun } from './nix-run.ts'

/**
 * The requests that reach the agent over its control socket (`mesh builders`, and the build
 * hook's `decide` and `release`), validated before anything acts on them.
 */

const paramsObject = (params: unknown): Record<string, unknown> =>
  typeof params === 'object' && params !== null && !Array.isArray(params) ? params as Record<string, unknown> : {}

function stringList (value: unknown, what: string, max = 256): string[] | undefined {
  if (value === undefined) return undefined
  if (!Array.isArray(value) || value.length > max || value.some((v) => typeof v !== 'string')) throw new UsageError(`${what} must be a list of at most ${max} strings`)
  return value as string[]
}

/** Which builders `mesh builders` and `mesh build` want: names (`--only`, `--exclude`), a system and features. */
export interface BuilderSelection {
  only?: string[]
  exclude?: string[]
  system?: string
  features?: string[]
}

export function parseBuilderSelection (params: unknown): BuilderSelection {
  const p = paramsObject(params)
  const only = stringList(p.only, 'only')
  const exclude = stringList(p.exclude, 'exclude')
  return {
    ...(only === undefined ? {} : { only }),
    ...(exclude === undefined ? {} : { exclude }),
    ...(p.system === undefined ? {} : { system: validateSystem(p.system, 'system') }),
    ...(p.features === undefined ? {} : { features: validateFeatures(stringList(p.features, 'features'), 'features') })
  }
}

/** One of Nix's `try` requests as the hook passes it on, with what the hook knows besides. */
export interface DecideRequest {
  amWilling: boolean
  drvPath: string
  system: string
  requiredFeatures: string[]
  /** Nix's `max-jobs`: its local slots. */
  maxJobs?: number
  nixRun?: NixRun
  /** The hook's own pid: Nix counts a build it accepted as running while that process lives. */
  hookPid?: number
  /** How often the run asks again about a build it was told to postpone: its `build-poll-interval`. */
  pollSeconds?: number
  /** Builds the hook told to keep waiting itself since it last asked, and when the agent had answered them ahead (ms). */
  served: string[]
  servedAt?: number
  /** Only these builders (`mesh build --only`, or Nix's `builders` setting): never this host. */
  allowedHosts?: string[]
  /** Hosts Nix's `builders` setting names beside the agent's own file: the answer says which the mesh does not know. */
  outsideHosts?: string[]
  /** For hosts of `allowedHosts` or `outsideHosts` that the run's ssh configuration names otherwise: the name ssh connects to. */
  sshHostNames?: Map<string, string>
  /** Never this host: Nix handed the build to the hook already, and the builder it was on was lost. */
  remoteOnly: boolean
  /** Answer the rest of Nix's round ahead. */
  forecast: boolean
  /** A piece of the run's temporary roots, as sent: `RunDerivations` validates it. */
  runRoots?: unknown
}

export function parseDecideRequest (params: unknown): DecideRequest {
  const p = paramsObject(params)
  if (typeof p.amWilling !== 'boolean') throw new UsageError('amWilling must be true or false')
  if (typeof p.drvPath !== 'string' || !isDrvPath(p.drvPath)) throw new UsageError('drvPath must be a derivation path in /nix/store')
  const maxJobs = p.maxJobs === undefined ? undefined : Number(p.maxJobs)
  if (maxJobs !== undefined && (!Number.isSafeInteger(maxJobs) || maxJobs < 0)) throw new UsageError('maxJobs must be a whole number')
  const served = stringList(p.served, 'served', MAX_ANSWERED_AHEAD) ?? []
  if (served.some((s) => !isDrvPath(s))) throw new UsageError('served must be derivation paths')
  if (p.servedAt !== undefined && (typeof p.servedAt !== 'number' || !Number.isFinite(p.servedAt))) throw new UsageError('servedAt must be a time')
  if (p.remoteOnly !== undefined && typeof p.remoteOnly !== 'boolean') throw new UsageError('remoteOnly must be true or false')
  const allowedHosts = stringList(p.allowedHosts, 'allowedHosts')
  const outsideHosts = stringList(p.outsideHosts, 'outsideHosts')
  const sshHostNames = parseSshHostNames(p.sshHostNames, [...allowedHosts ?? [], ...outsideHosts ?? []])
  const nixRun = parseNixRun(p.nixRun)
  const hookPid = parseProcessId(p.hookPid, 'hookPid')
  if (p.pollSeconds !== undefined && (typeof p.pollSeconds !== 'number' || !Number.isSafeInteger(p.pollSeconds) || p.pollSeconds < 1 || p.pollSeconds > 3600)) {
    throw new UsageError('pollSeconds must be a whole number of seconds from 1 to 3600')
  }
  return {
    amWilling: p.amWilling,
    drvPath: p.drvPath,
    system: validateSystem(p.system, 'system'),
    requiredFeatures: validateFeatures(stringList(p.requiredFeatures, 'requiredFeatures') ?? [], 'requiredFeatures'),
    ...(maxJobs === undefined ? {} : { maxJobs }),
    ...(nixRun === undefined ? {} : { nixRun }),
    ...(hookPid === undefined ? {} : { hookPid }),
    ...(p.pollSeconds === undefined ? {} : { pollSeconds: p.pollSeconds as number }),
    served,
    ...(p.servedAt === undefined ? {} : { servedAt: p.servedAt as number }),
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
    ...(outsideHosts === undefined ? {} : { outsideHosts }),
    ...(sshHostNames === undefined ? {} : { sshHostNames }),
    remoteOnly: p.remoteOnly === true,
    forecast: p.forecast === true,
    ...(p.runRoots === undefined ? {} : { runRoots: p.runRoots })
  }
}

/** A host name or address as `ssh -G` prints it. */
const SSH_HOST_NAME = /^[A-Za-z0-9._:-]{1,253}$/

function parseSshHostNames (value: unknown, named: string[]): Map<string, string> | undefined {
  if (value === undefined) return undefined
  const entries = typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.entries(value) : null
  if (entries === null || entries.some(([host, name]) => !named.includes(host) || typeof name !== 'string' || !SSH_HOST_NAME.test(name))) {
    throw new UsageError('sshHostNames must map hosts of allowedHosts or outsideHosts to host names')
  }
  return new Map(entries as Array<[string, string]>)
}

/** The hook's word that a build it sent to a builder is over, and how it ended. */
export interface ReleaseRequest {
  reservation: string
  outcome: ReleaseOutcome
}

export function parseReleaseRequest (params: unknown): ReleaseRequest {
  const p = paramsObject(params)
  if (typeof p.reservation !== 'string' || p.reservation.length > 64) throw new UsageError('reservation must be a reservation id')
  // A hook from before outcomes were told released only builds that it had built.
  const outcome = p.outcome ?? 'built'
  if (typeof outcome !== 'string' || !(RELEASE_OUTCOMES as readonly string[]).includes(outcome)) {
    throw new UsageError(`outcome must be one of ${RELEASE_OUTCOMES.join(', ')}`)
  }
  return { reservation: p.reservation, outcome: outcome as ReleaseOutcome }
}
