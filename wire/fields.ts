import { isIP } from 'node:net'
import { InvalidFieldError } from '../common/errors.ts'

/**
 * Validators for every field that can arrive from the network. Each returns the value in its
 * canonical form or throws InvalidFieldError. The charsets are chosen so that nothing that
 * passes can carry a space, tab, newline, `;`, `#`, `"`, `\`, `(` or `)` into a Nix or Guix
 * builder list: a smuggled separator would inject a machine.
 * Values are accepted as JS values or as the strings they travel as in TXT records.
 */

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/
// Nix adds CPU levels to the platform on x86_64 (`x86_64-v3-linux`), so allow up to four parts.
const SYSTEM = /^[a-z0-9_]{1,24}(?:-[a-z0-9_]{1,24}){1,3}$/
// Starts with an alphanumeric so a feature can never be `-`, which Nix reads as "no features".
const FEATURE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/
const SSH_USER = /^[a-z_][a-z0-9_-]{0,31}$/
const UNSIGNED = /^(?:0|[1-9][0-9]{0,15})$/
// No sign, exponent, hex, `Infinity` or `NaN`: only what our encoder writes.
const DECIMAL = /^(?:0|[1-9][0-9]{0,6})(?:\.[0-9]{1,6})?$/
const ZONE = /^[A-Za-z0-9_.-]{1,15}$/

export const MAX_SYSTEMS = 16
export const MAX_FEATURES = 32
export const MAX_SLOTS = 1024
export const MAX_SPEED = 1e6

/** Shows a hostile value in an error message without letting it break the message. */
export function describeValue (value: unknown): string {
  const text = typeof value === 'string' ? value : String(value)
  const shown = JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)
  return typeof value === 'string' ? shown : `${shown} (${typeof value})`
}

function requireString (value: unknown, field: string): string {
  if (typeof value !== 'string') throw new InvalidFieldError(field, `expected a string, got ${typeof value}`)
  return value
}

export function validateHostName (value: unknown, field = 'name'): string {
  const text = requireString(value, field)
  if (!HOST_NAME.test(text)) {
    throw new InvalidFieldError(field, `${describeValue(text)} is not a host name (one DNS label: letters, digits, inner hyphens, 1 to 63 characters)`)
  }
  return text
}

export function validateSystem (value: unknown, field = 'systems'): string {
  const text = requireString(value, field)
  if (!SYSTEM.test(text)) throw new InvalidFieldError(field, `${describeValue(text)} is not a Nix system type like x86_64-linux`)
  return text
}

export function validateFeature (value: unknown, field = 'features'): string {
  const text = requireString(value, field)
  if (!FEATURE.test(text)) {
    throw new InvalidFieldError(field, `${describeValue(text)} is not a feature name (letters, digits and . _ + -, up to 64)`)
  }
  return text
}

/**
 * A list as an array or as its comma-separated wire form. Duplicates are dropped, keeping the
 * first; an empty item (`a,,b`) is an error because no encoder of ours writes one.
 */
function validateList (value: unknown, field: string, max: number, item: (v: unknown, f: string) => string): string[] {
  let items: unknown[]
  if (typeof value === 'string') {
    items = value === '' ? [] : value.split(',')
  } else if (Array.isArray(value)) {
    items = value
  } else {
    throw new InvalidFieldError(field, `expected a list, got ${typeof value}`)
  }
  if (items.length > max) throw new InvalidFieldError(field, `${items.length} items, at most ${max} allowed`)
  const result: string[] = []
  for (const raw of items) {
    if (raw === '') throw new InvalidFieldError(field, 'empty item in list')
    const valid = item(raw, field)
    if (!result.includes(valid)) result.push(valid)
  }
  return result
}

/** Systems a builder runs: at least one. */
export function validateSystems (value: unknown, field = 'systems'): string[] {
  const systems = validateList(value, field, MAX_SYSTEMS, validateSystem)
  if (systems.length === 0) throw new InvalidFieldError(field, 'no system listed')
  return systems
}

export function validateFeatures (value: unknown, field = 'features'): string[] {
  return validateList(value, field, MAX_FEATURES, validateFeature)
}

function toNumber (value: unknown, field: string, syntax: RegExp, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidFieldError(field, `${describeValue(value)} is not a finite number`)
    return value
  }
  const text = requireString(value, field)
  if (!syntax.test(text)) throw new InvalidFieldError(field, `${describeValue(text)} is not ${what}`)
  return Number(text)
}

function validateInteger (value: unknown, field: string, min: number, max: number): number {
  const n = toNumber(value, field, UNSIGNED, 'a non-negative decimal integer')
  if (!Number.isSafeInteger(n)) throw new InvalidFieldError(field, `${describeValue(value)} is not an integer`)
  if (n < min || n > max) throw new InvalidFieldError(field, `${n} is out of range ${min}..${max}`)
  return n
}

/** Builds run at once: Nix maxJobs and Guix parallel-builds. */
export function validateSlots (value: unknown, field = 'slots'): number {
  return validateInteger(value, field, 1, MAX_SLOTS)
}

export function validatePort (value: unknown, field = 'sshPort'): number {
  return validateInteger(value, field, 1, 65535)
}

export function validateFreeDiskBytes (value: unknown, field = 'freeDiskBytes'): number {
  return validateInteger(value, field, 0, Number.MAX_SAFE_INTEGER)
}

/** Relative speed: > 0, bounded so rounding and Scheme output stay ordinary numbers. */
export function validateSpeed (value: unknown, field = 'speed'): number {
  const n = toNumber(value, field, DECIMAL, 'a positive decimal number')
  if (!(n > 0 && n <= MAX_SPEED)) throw new InvalidFieldError(field, `${n} is out of range (0, ${MAX_SPEED}]`)
  return n
}

/** Load average divided by cores, already capped by the sender. */
export function validateLoad (value: unknown, field = 'load'): number {
  const n = toNumber(value, field, DECIMAL, 'a decimal number')
  if (!(n >= 0 && n <= 1)) throw new InvalidFieldError(field, `${n} is out of range 0..1`)
  return n
}

export function validateSshUser (value: unknown, field = 'sshUser'): string {
  const text = requireString(value, field)
  if (!SSH_USER.test(text)) {
    throw new InvalidFieldError(field, `${describeValue(text)} is not a user name (lower case letter or _, then letters, digits, _ or -, up to 32)`)
  }
  return text
}

/**
 * An IP address builders can be reached at, canonical: IPv6 compressed and lower case,
 * IPv4-mapped IPv6 turned into IPv4 (what a dual-stack socket reports), zone id kept.
 */
export function validateAddress (value: unknown, field = 'address'): string {
  const text = requireString(value, field)
  const version = isIP(text)
  if (version === 4) return checkIpv4(text, field)
  if (version !== 6) throw new InvalidFieldError(field, `${describeValue(text)} is not an IP address`)

  const [address = '', zone] = text.split('%', 2)
  if (zone !== undefined && !ZONE.test(zone)) throw new InvalidFieldError(field, `${describeValue(zone)} is not an interface name`)
  const canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1)
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canonical)
  if (mapped !== null) {
    const high = parseInt(mapped[1] ?? '', 16)
    const low = parseInt(mapped[2] ?? '', 16)
    return checkIpv4(`${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`, field)
  }
  if (canonical === '::') throw new InvalidFieldError(field, 'the unspecified address :: is not a host')
  if (canonical.startsWith('ff')) throw new InvalidFieldError(field, `${canonical} is a multicast address`)
  return zone === undefined ? canonical : `${canonical}%${zone}`
}

function checkIpv4 (address: string, field: string): string {
  const first = Number(address.split('.')[0])
  if (first === 0) throw new InvalidFieldError(field, `${address} is an unspecified ("this network") address`)
  if (first >= 224) throw new InvalidFieldError(field, `${address} is a multicast, reserved or broadcast address`)
  return address
}

// Per key type: the SSH strings that follow the type name in the blob (RFC 4253 §6.6,
// RFC 5656 §3.1, RFC 8709 §4), each checked by size so a truncated or padded blob fails.
const KEY_TYPES: Record<string, (parts: Buffer[]) => string | null> = {
  'ssh-ed25519': (parts) => parts.length === 1 && parts[0]?.length === 32 ? null : 'expected one 32-byte key',
  'ecdsa-sha2-nistp256': (parts) => ecdsaProblem(parts, 'nistp256', 65),
  'ecdsa-sha2-nistp384': (parts) => ecdsaProblem(parts, 'nistp384', 97),
  'ecdsa-sha2-nistp521': (parts) => ecdsaProblem(parts, 'nistp521', 133),
  'ssh-rsa': (parts) => {
    const [exponent, modulus] = parts
    if (parts.length !== 2 || exponent === undefined || modulus === undefined) return 'expected an exponent and a modulus'
    if (exponent.length === 0 || exponent.length > 8) return 'bad exponent size'
    return modulus.length >= 128 && modulus.length <= 2049 ? null : 'modulus must be 1024 to 16384 bits'
  }
}

function ecdsaProblem (parts: Buffer[], curve: string, pointSize: number): string | null {
  const [name, point] = parts
  if (parts.length !== 2 || name === undefined || point === undefined) return 'expected a curve name and a point'
  if (name.toString('latin1') !== curve) return `curve does not match ${curve}`
  return point.length === pointSize && point[0] === 4 ? null : 'bad curve point'
}

/** Splits an SSH wire blob into its length-prefixed strings, or null if the lengths do not add up. */
function sshStrings (blob: Buffer): Buffer[] | null {
  const parts: Buffer[] = []
  let offset = 0
  while (offset < blob.length) {
    if (offset + 4 > blob.length) return null
    const length = blob.readUInt32BE(offset)
    offset += 4
    if (offset + length > blob.length) return null
    parts.push(blob.subarray(offset, offset + length))
    offset += length
  }
  return parts
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})+(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * An OpenSSH public host key line, returned as `type base64` without the comment (a comment
 * is free text that has no place in a builder list). The type must be the one named inside
 * the blob, so a key cannot be relabelled.
 */
export function validateHostKey (value: unknown, field = 'hostKey'): string {
  const text = requireString(value, field)
  if (text.length > 4096) throw new InvalidFieldError(field, `${text.length} characters, at most 4096 allowed`)
  const [type = '', data = ''] = text.trim().split(/[ \t]+/)
  const check = Object.hasOwn(KEY_TYPES, type) ? KEY_TYPES[type] : undefined
  if (check === undefined) throw new InvalidFieldError(field, `unsupported host key type ${describeValue(type)}`)
  if (!BASE64.test(data)) throw new InvalidFieldError(field, 'host key data is not base64')
  const blob = Buffer.from(data, 'base64')
  // Non-canonical padding bits would decode here yet may be refused by another decoder.
  if (blob.toString('base64') !== data) throw new InvalidFieldError(field, 'host key data is not canonical base64')
  const parts = sshStrings(blob)
  if (parts === null || parts.length === 0) throw new InvalidFieldError(field, 'host key blob is truncated')
  const inner = parts.shift()?.toString('latin1')
  if (inner !== type) throw new InvalidFieldError(field, `key type ${type} does not match ${describeValue(inner)} inside the key`)
  const problem = check(parts)
  if (problem !== null) throw new InvalidFieldError(field, `bad ${type} key: ${problem}`)
  return `${type} ${data}`
}

// base58btc: what a libp2p peer id prints as (12D3KooW... for Ed25519, Qm... for RSA).
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{40,64}$/

/** A libp2p peer id as text. Only its shape: the libp2p handshake proves who holds it. */
export function validatePeerId (value: unknown, field = 'peerId'): string {
  const text = requireString(value, field)
  if (!PEER_ID.test(text)) throw new InvalidFieldError(field, `${describeValue(text)} is not a libp2p peer id (base58btc, 40 to 64 characters)`)
  return text
}
