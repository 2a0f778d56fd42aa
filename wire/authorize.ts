import { InvalidFieldError } from '../common/errors.ts'
import { validateHostKey, validateHostName } from './fields.ts'
import { checkVersion, decodeJsonObject, encodeJsonObject, field, jsonType, requiredField } from './json-message.ts'

/**
 * A master asks a builder, over `/buildmesh/authorize/1.0.0`, to let its SSH key in; the builder
 * answers once. Which master is asking is the libp2p peer id of the authenticated connection,
 * never anything in the message: `master` is the host name, for logs and `mesh peers` only.
 */
export interface AuthorizeRequest {
  v: 1
  master: string
  /** The master's SSH public key, `type base64`: any comment is dropped. */
  publicKey: string
}

export interface AuthorizeResponse {
  v: 1
  ok: boolean
  /** Why the builder refused or failed; only when `ok` is false. */
  error?: string
}

export const AUTHORIZE_PROTOCOL = '/buildmesh/authorize/1.0.0'
export const AUTHORIZE_VERSION = 1
/** An ed25519 request is about 150 bytes; an RSA 4096 key still fits. */
export const MAX_AUTHORIZE_BYTES = 2048
export const MAX_ERROR_LENGTH = 512

// Controls, format characters (bidi overrides, zero widths), line and paragraph separators and
// lone surrogates: what could rewrite a terminal line or a log line when the error is shown.
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'gu')

/**
 * Any text as a valid `error`: a builder passes on what went wrong, and an exception's message
 * may hold a newline or run long. Refusing it would leave the master with no answer at all.
 */
function printableError (text: string): string | undefined {
  const clean = text.replace(UNPRINTABLE_ALL, '\ufffd')
  if (clean === '') return undefined
  if (clean.length <= MAX_ERROR_LENGTH) return clean
  // Cut between code points, not inside a surrogate pair.
  return `${clean.slice(0, MAX_ERROR_LENGTH - 1).replace(/[\ud800-\udbff]$/, '')}…`
}

function readRequest (message: Record<string, unknown>): AuthorizeRequest {
  checkVersion(message, AUTHORIZE_VERSION)
  return {
    v: AUTHORIZE_VERSION,
    master: validateHostName(requiredField(message, 'master'), 'master'),
    publicKey: validateHostKey(requiredField(message, 'publicKey'), 'publicKey')
  }
}

function readResponse (message: Record<string, unknown>): AuthorizeResponse {
  checkVersion(message, AUTHORIZE_VERSION)
  const ok = requiredField(message, 'ok')
  if (typeof ok !== 'boolean') throw new InvalidFieldError('ok', `expected a boolean, got ${jsonType(ok)}`)
  const error = field(message, 'error')
  if (error === undefined) return { v: AUTHORIZE_VERSION, ok }
  if (ok) throw new InvalidFieldError('error', 'given with ok: true')
  if (typeof error !== 'string') throw new InvalidFieldError('error', `expected a string, got ${jsonType(error)}`)
  if (error.length === 0 || error.length > MAX_ERROR_LENGTH) {
    throw new InvalidFieldError('error', `${error.length} characters, expected 1 to ${MAX_ERROR_LENGTH}`)
  }
  const unprintable = UNPRINTABLE.exec(error)
  if (unprintable !== null) {
    // Named by code point: echoing it would carry it into the log this message ends up in.
    const code = (unprintable[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')
    throw new InvalidFieldError('error', `unprintable character U+${code} at index ${unprintable.index}`)
  }
  return { v: AUTHORIZE_VERSION, ok, error }
}

export function encodeAuthorizeRequest (request: AuthorizeRequest): Uint8Array {
  return encodeJsonObject({ ...readRequest({ ...request }) }, MAX_AUTHORIZE_BYTES, 'authorize request')
}

export function decodeAuthorizeRequest (bytes: Uint8Array): AuthorizeRequest {
  return readRequest(decodeJsonObject(bytes, MAX_AUTHORIZE_BYTES, 'authorize request'))
}

/**
 * Validates as the master will, except that `error` is made one printable line of at most
 * MAX_ERROR_LENGTH characters rather than refused.
 */
export function encodeAuthorizeResponse (response: AuthorizeResponse): Uint8Array {
  const { error, ...rest } = response
  const printable = error === undefined ? undefined : printableError(error)
  const message = printable === undefined ? { ...rest } : { ...rest, error: printable }
  return encodeJsonObject({ ...readResponse(message) }, MAX_AUTHORIZE_BYTES, 'authorize response')
}

export function decodeAuthorizeResponse (bytes: Uint8Array): AuthorizeResponse {
  return readResponse(decodeJsonObject(bytes, MAX_AUTHORIZE_BYTES, 'authorize response'))
}
