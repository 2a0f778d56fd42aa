import { InvalidFieldError } from '../common/errors.ts'
import { checkVersion, decodeJsonObject, encodeJsonObject, field, jsonType, requiredField } from './json-message.ts'
import {
  describeValue,
  validateFeatures,
  validateFreeDiskBytes,
  validateHostKey,
  validateHostName,
  validateLoad,
  validatePort,
  validateSlots,
  validateSpeed,
  validateSshUser,
  validateSystems
} from './fields.ts'

/**
 * What a builder tells a master, over the authenticated libp2p stream, about itself right now.
 * Unlike an mDNS advertisement it comes from a peer that proved it holds the mesh key, so this
 * is where a master learns the host key it pins. Still hostile input: `decodeStatus` is the only
 * way to build one from bytes, and it validates every field.
 */
export interface BuilderStatus {
  v: 1
  name: string
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  slots: number
  /** Remote builds running now, 0..slots. */
  slotsInUse: number
  /** CPU cores: `big-parallel` builds go to the machines with the most. */
  cores: number
  /** Relative speed, measured by the agent's CPU benchmark unless set by hand. */
  speed: number
  /** 1-minute load average / cores, 0..1. */
  load: number
  freeDiskBytes: number
  sshUser: string
  sshPort: number
  /** OpenSSH public host key line without its comment, or null when unknown. */
  hostKey: string | null
  /** Counts up from 0 on each connection, so a master can tell a stale message from a new one. */
  seq: number
  /** Epoch milliseconds on the builder's clock: the master compares it with its own to measure skew. */
  sentAt: number
  /** The builder's buildmesh package version. */
  version: string
  /**
   * Kernel release, machine architecture and host name, as `uname -r`, `uname -m` and
   * `hostname` say: for `mesh status`. Absent from builders that predate them, or when the
   * sender's value does not validate.
   */
  kernel?: string
  arch?: string
  hostName?: string
}

export const STATUS_PROTOCOL = '/buildmesh/status/1.0.0'
export const STATUS_VERSION = 1
/** One status document, before any JSON parsing: a real one is well under 1 KiB. */
export const MAX_STATUS_BYTES = 4096

/** Semantic-version-like: printable, and safe to show in a table or a log line as it is. */
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$/
// Shown as they are in a table: printable ASCII without spaces, so no value can break a row.
const KERNEL = /^[\x21-\x7e]{1,64}$/
const ARCH = /^[A-Za-z0-9_]{1,32}$/
// A host name may be fully qualified, unlike `name`, which is one DNS label.
const FQDN = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$/

const OS_FIELDS = [
  ['kernel', KERNEL, 'a kernel release (printable, no spaces, up to 64)'],
  ['arch', ARCH, 'an architecture like x86_64 (letters, digits and _, up to 32)'],
  ['hostName', FQDN, 'a host name (letters, digits and _ . -, up to 253)']
] as const

type OsFields = Pick<BuilderStatus, 'kernel' | 'arch' | 'hostName'>

/** The OS fields present in a message, each validated; a present but bad one fails the message. */
function readOsFields (message: Record<string, unknown>): OsFields {
  const fields: OsFields = {}
  for (const [key, syntax, what] of OS_FIELDS) {
    const value = field(message, key)
    if (value === undefined) continue
    if (typeof value !== 'string' || !syntax.test(value)) throw new InvalidFieldError(key, `${describeValue(value)} is not ${what}`)
    fields[key] = value
  }
  return fields
}

/**
 * What a builder can say about its OS: the values that would validate, the others left out, so
 * that an odd kernel release or host name never stops a builder from sending its status.
 */
export function osFields (values: Required<OsFields>): OsFields {
  const fields: OsFields = {}
  for (const [key, syntax] of OS_FIELDS) {
    if (syntax.test(values[key])) fields[key] = values[key]
  }
  return fields
}

// The fields.ts validators also take the string forms that TXT records carry; JSON has real
// types, so anything else where a number or a list belongs is refused before they see it.
function requireNumber (value: unknown, key: string): number {
  if (typeof value !== 'number') throw new InvalidFieldError(key, `expected a number, got ${jsonType(value)}`)
  return value
}

function requireArray (value: unknown, key: string): unknown[] {
  if (!Array.isArray(value)) throw new InvalidFieldError(key, `expected an array, got ${jsonType(value)}`)
  return value
}

function safeInteger (value: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = requireNumber(value, key)
  if (!Number.isSafeInteger(n)) throw new InvalidFieldError(key, `${describeValue(n)} is not a safe integer`)
  if (n < min || n > max) throw new InvalidFieldError(key, `${n} is out of range ${min}..${max}`)
  return n
}

/** Validates a decoded status document; unknown keys are ignored so later versions can add some. */
function readStatus (message: Record<string, unknown>): BuilderStatus {
  checkVersion(message, STATUS_VERSION)
  const get = (key: string): unknown => requiredField(message, key)
  const slots = validateSlots(requireNumber(get('slots'), 'slots'), 'slots')
  const hostKey = get('hostKey')
  const version = get('version')
  if (typeof version !== 'string' || !VERSION.test(version)) {
    throw new InvalidFieldError('version', `${describeValue(version)} is not a version (letters, digits and . + -, up to 32)`)
  }
  return {
    v: STATUS_VERSION,
    name: validateHostName(get('name'), 'name'),
    systems: validateSystems(requireArray(get('systems'), 'systems'), 'systems'),
    supportedFeatures: validateFeatures(requireArray(get('supportedFeatures'), 'supportedFeatures'), 'supportedFeatures'),
    mandatoryFeatures: validateFeatures(requireArray(get('mandatoryFeatures'), 'mandatoryFeatures'), 'mandatoryFeatures'),
    slots,
    slotsInUse: safeInteger(get('slotsInUse'), 'slotsInUse', 0, slots),
    cores: safeInteger(get('cores'), 'cores', 1, 65_536),
    speed: validateSpeed(requireNumber(get('speed'), 'speed'), 'speed'),
    load: validateLoad(requireNumber(get('load'), 'load'), 'load'),
    freeDiskBytes: validateFreeDiskBytes(requireNumber(get('freeDiskBytes'), 'freeDiskBytes'), 'freeDiskBytes'),
    sshUser: validateSshUser(get('sshUser'), 'sshUser'),
    sshPort: validatePort(requireNumber(get('sshPort'), 'sshPort'), 'sshPort'),
    hostKey: hostKey === null ? null : validateHostKey(hostKey, 'hostKey'),
    seq: safeInteger(get('seq'), 'seq', 0),
    sentAt: safeInteger(get('sentAt'), 'sentAt', 1),
    version,
    ...readOsFields(message)
  }
}

/**
 * Validates as the receiver will, so a bad value fails here with the field named rather than
 * on every master. Throws InvalidFieldError, or MessageTooLargeError for a status over
 * MAX_STATUS_BYTES (possible only with very many systems and features). The sender clamps
 * slotsInUse to slots: more sessions than slots is not a state the message can carry.
 */
export function encodeStatus (status: BuilderStatus): Uint8Array {
  return encodeJsonObject({ ...readStatus({ ...status }) }, MAX_STATUS_BYTES, 'status')
}

export function decodeStatus (bytes: Uint8Array): BuilderStatus {
  return readStatus(decodeJsonObject(bytes, MAX_STATUS_BYTES, 'status'))
}
