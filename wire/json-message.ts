/** Framing-free JSON messages of the libp2p protocols: bounded, strict, own fields only. */
import { BuildmeshError, InvalidFieldError } from '../common/errors.ts'
import { describeValue } from './fields.ts'

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
