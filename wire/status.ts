import { BuildmeshError, InvalidFieldError } from '../common/errors.ts'
import {
  describeValue,
  validateFeatures,
  validateFreeDiskBytes,
  validateHostKey,
  validateHostName,
  validateLoad,
  validatePort,
  validateSlots,
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
}

export const STATUS_PROTOCOL = '/buildmesh/status/1.0.0'
export const STATUS_VERSION = 1
/** One status document, before any JSON parsing: a real one is well under 1 KiB. */
export const MAX_STATUS_BYTES = 4096

/** Semantic-version-like: printable, and safe to show in a table or a log line as it is. */
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+-]{0,31}$/

/** A message of ours would not fit its size limit: the sender must trim what it says. */
export class MessageTooLargeError extends BuildmeshError {
  constructor (what: string, size: number, max: number) {
    super('ERR_MESSAGE_TOO_LARGE', `${what} message is ${size} bytes, over the limit of ${max}`)
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The JSON object a message's bytes hold, for the `read*` functions to validate field by field.
 * The size is checked before anything is decoded; a byte order mark is refused because no
 * encoder of ours writes one. Shared by the message modules under wire/.
 */
export function decodeJsonObject (bytes: Uint8Array, max: number, what: string): Record<string, unknown> {
  if (bytes.byteLength > max) throw new InvalidFieldError(what, `${bytes.byteLength} bytes, over the limit of ${max}`)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new InvalidFieldError(what, 'not UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new InvalidFieldError(what, 'not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidFieldError(what, `expected a JSON object, got ${jsonType(value)}`)
  }
  return value as Record<string, unknown>
}

/** Serialises a message that its `read*` function has already checked, within `max` bytes. */
export function encodeJsonObject (message: Record<string, unknown>, max: number, what: string): Uint8Array {
  const bytes = new TextEncoder().encode(JSON.stringify(message))
  if (bytes.byteLength > max) throw new MessageTooLargeError(what, bytes.byteLength, max)
  return bytes
}

export function jsonType (value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'array' : typeof value
}

/**
 * A field of a decoded message. Own properties only, so `toString` or a `__proto__` key in the
 * JSON never stands in for a field.
 */
export function field (message: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(message, key) ? message[key] : undefined
}

export function requiredField (message: Record<string, unknown>, key: string): unknown {
  const value = field(message, key)
  if (value === undefined) throw new InvalidFieldError(key, 'missing')
  return value
}

/** Checks `v` first, so a peer of another version learns why before any other field fails. */
export function checkVersion (message: Record<string, unknown>, version: number): void {
  const seen = field(message, 'v')
  if (seen === version) return
  const described = seen === undefined ? 'no version' : `version ${describeValue(seen)}`
  throw new InvalidFieldError('v', `${described}, this build reads version ${version}`)
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
    load: validateLoad(requireNumber(get('load'), 'load'), 'load'),
    freeDiskBytes: validateFreeDiskBytes(requireNumber(get('freeDiskBytes'), 'freeDiskBytes'), 'freeDiskBytes'),
    sshUser: validateSshUser(get('sshUser'), 'sshUser'),
    sshPort: validatePort(requireNumber(get('sshPort'), 'sshPort'), 'sshPort'),
    hostKey: hostKey === null ? null : validateHostKey(hostKey, 'hostKey'),
    seq: safeInteger(get('seq'), 'seq', 0),
    sentAt: safeInteger(get('sentAt'), 'sentAt', 1),
    version
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
