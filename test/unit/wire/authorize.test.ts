import { describe, expect, it } from 'vitest'
import { InvalidFieldError } from '../../../common/errors.ts'
import {
  decodeAuthorizeRequest,
  decodeAuthorizeResponse,
  encodeAuthorizeRequest,
  encodeAuthorizeResponse,
  MAX_AUTHORIZE_BYTES,
  MAX_ERROR_LENGTH
} from '../../../wire/authorize.ts'
import type { AuthorizeRequest, AuthorizeResponse } from '../../../wire/authorize.ts'
import { MessageTooLargeError } from '../../../wire/json-message.ts'
import { ECDSA_P521_KEY, ED25519_KEY, RSA_2048_KEY } from '../../support/advertisements.ts'

const request = (overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest => ({ v: 1, master: 'master-1', publicKey: ED25519_KEY, ...overrides })
const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))
const [, ed25519Data = ''] = ED25519_KEY.split(' ')

function rejected (decode: (raw: Uint8Array) => unknown, raw: Uint8Array): InvalidFieldError {
  try {
    decode(raw)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidFieldError)
    return err as InvalidFieldError
  }
  throw new Error('expected the decoder to throw')
}

describe('authorize request', () => {
  it.each([ED25519_KEY, ECDSA_P521_KEY, RSA_2048_KEY])('round-trips a %s key', (key) => {
    expect(decodeAuthorizeRequest(encodeAuthorizeRequest(request({ publicKey: key })))).toEqual(request({ publicKey: key }))
  })

  it('drops the key comment, which has no place in authorized_keys', () => {
    expect(decodeAuthorizeRequest(bytes({ ...request(), publicKey: `${ED25519_KEY} root@master` })).publicKey).toBe(ED25519_KEY)
  })

  it('ignores unknown keys', () => {
    expect(decodeAuthorizeRequest(bytes({ ...request(), reason: 'new master' }))).toEqual(request())
  })

  it('refuses to encode a bad request, naming the field', () => {
    expect(() => encodeAuthorizeRequest(request({ master: 'evil host' }))).toThrow(expect.objectContaining({ field: 'master' }))
    expect(() => encodeAuthorizeRequest(request({ publicKey: 'ssh-ed25519 AAAA' }))).toThrow(expect.objectContaining({ field: 'publicKey' }))
  })

  it.each([
    ['an empty message', bytes(''), 'authorize request'],
    ['not JSON', bytes('ssh-ed25519 AAAA'), 'authorize request'],
    ['an array', bytes([request()]), 'authorize request'],
    ['null', bytes('null'), 'authorize request'],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0xff, 0x7d]), 'authorize request'],
    ['deep nesting', bytes(`${'['.repeat(1000)}${']'.repeat(1000)}`), 'authorize request'],
    ['over the limit', new Uint8Array(MAX_AUTHORIZE_BYTES + 1).fill(0x20), 'authorize request'],
    ['no version', bytes({ master: 'm', publicKey: ED25519_KEY }), 'v'],
    ['version 2', bytes({ ...request(), v: 2 }), 'v'],
    ['version "1"', bytes({ ...request(), v: '1' }), 'v'],
    ['no master', bytes({ v: 1, publicKey: ED25519_KEY }), 'master'],
    ['a master with a newline', bytes(request({ master: 'm\nx' })), 'master'],
    ['a master as a number', bytes({ ...request(), master: 1 }), 'master'],
    ['no key', bytes({ v: 1, master: 'm' }), 'publicKey'],
    ['a null key', bytes({ ...request(), publicKey: null }), 'publicKey'],
    ['options smuggled before the key', bytes(request({ publicKey: `command="sh" ${ED25519_KEY}` })), 'publicKey'],
    ['a second line smuggled after the key', bytes(request({ publicKey: `${ED25519_KEY}\nssh-ed25519 ${ed25519Data}` })), 'publicKey'],
    ['a truncated key', bytes(request({ publicKey: `ssh-ed25519 ${ed25519Data.slice(0, 40)}` })), 'publicKey'],
    ['a relabelled key', bytes(request({ publicKey: `ssh-rsa ${ed25519Data}` })), 'publicKey'],
    ['a DSA key', bytes(request({ publicKey: 'ssh-dss AAAAB3NzaC1kc3M=' })), 'publicKey']
  ])('refuses %s', (_, raw, field) => {
    expect(rejected(decodeAuthorizeRequest, raw).field).toBe(field)
  })

  it('throws MessageTooLargeError for a key that does not fit', () => {
    const sshString = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, b.length >> 8, b.length & 255]), b])
    const modulus = Buffer.alloc(2048, 0x5a)
    const blob = Buffer.concat([sshString(Buffer.from('ssh-rsa')), sshString(Buffer.from([1, 0, 1])), sshString(modulus)])
    expect(() => encodeAuthorizeRequest(request({ publicKey: `ssh-rsa ${blob.toString('base64')}` }))).toThrow(MessageTooLargeError)
  })
})

describe('authorize response', () => {
  it.each<AuthorizeResponse>([
    { v: 1, ok: true },
    { v: 1, ok: false },
    { v: 1, ok: false, error: 'authorized_keys: cannot read: EACCES' },
    { v: 1, ok: false, error: 'clé refusée ✗' }
  ])('round-trips %j', (response) => {
    expect(decodeAuthorizeResponse(encodeAuthorizeResponse(response))).toEqual(response)
  })

  it.each([
    ['a newline', 'two\nlines', 'two\ufffdlines'],
    ['a terminal escape and a bidi override', '\u001b[2Jx\u202e', '\ufffd[2Jx\ufffd'],
    ['a lone surrogate', 'a\ud800b', 'a\ufffdb'],
    ['too much text', 'x'.repeat(MAX_ERROR_LENGTH + 1), `${'x'.repeat(MAX_ERROR_LENGTH - 1)}…`],
    ['too much text ending in a surrogate pair', `${'x'.repeat(MAX_ERROR_LENGTH - 2)}😀😀`, `${'x'.repeat(MAX_ERROR_LENGTH - 2)}…`]
  ])('encodes an error with %s as one printable line the master accepts', (_, error, sent) => {
    expect(decodeAuthorizeResponse(encodeAuthorizeResponse({ v: 1, ok: false, error }))).toEqual({ v: 1, ok: false, error: sent })
  })

  it('leaves out an empty error, and refuses one given with ok: true', () => {
    expect(decodeAuthorizeResponse(encodeAuthorizeResponse({ v: 1, ok: false, error: '' }))).toEqual({ v: 1, ok: false })
    expect(() => encodeAuthorizeResponse({ v: 1, ok: true, error: 'but' })).toThrow(expect.objectContaining({ field: 'error' }))
  })

  it.each([
    ['an array', bytes([]), 'authorize response'],
    ['no version', bytes({ ok: true }), 'v'],
    ['version 0', bytes({ v: 0, ok: true }), 'v'],
    ['no ok', bytes({ v: 1 }), 'ok'],
    ['ok as a string', bytes({ v: 1, ok: 'true' }), 'ok'],
    ['ok as 1', bytes({ v: 1, ok: 1 }), 'ok'],
    ['an error with ok true', bytes({ v: 1, ok: true, error: 'but' }), 'error'],
    ['an error as an object', bytes({ v: 1, ok: false, error: { message: 'x' } }), 'error'],
    ['an empty error', bytes({ v: 1, ok: false, error: '' }), 'error'],
    ['a long error', bytes({ v: 1, ok: false, error: 'x'.repeat(MAX_ERROR_LENGTH + 1) }), 'error'],
    ['an error with a newline', bytes({ v: 1, ok: false, error: 'a\nb' }), 'error'],
    ['an error with a terminal escape', bytes({ v: 1, ok: false, error: '\u001b[2Jcleared' }), 'error'],
    ['an error with a bidi override', bytes({ v: 1, ok: false, error: 'abc\u202edef' }), 'error'],
    ['an error with a line separator', bytes({ v: 1, ok: false, error: 'a\u2028b' }), 'error'],
    ['an error with a lone surrogate', bytes('{"v":1,"ok":false,"error":"a\\ud800b"}'), 'error'],
    ['an error with NUL', bytes({ v: 1, ok: false, error: 'a\u0000b' }), 'error']
  ])('refuses %s', (_, raw, field) => {
    expect(rejected(decodeAuthorizeResponse, raw).field).toBe(field)
  })

  it('names an unprintable character by code point instead of echoing it', () => {
    expect(rejected(decodeAuthorizeResponse, bytes({ v: 1, ok: false, error: 'abc\u202edef' })).message)
      .toBe('error: unprintable character U+202E at index 3')
  })
})
