import { describe, expect, it } from 'vitest'
import { InvalidFieldError } from '../../../common/errors.ts'
import { MessageTooLargeError } from '../../../wire/json-message.ts'
import { decodeStatus, encodeStatus, MAX_STATUS_BYTES, STATUS_VERSION } from '../../../wire/status.ts'
import type { BuilderStatus } from '../../../wire/status.ts'
import { ED25519_KEY, RSA_2048_KEY } from '../../support/advertisements.ts'

function status (overrides: Partial<BuilderStatus> = {}): BuilderStatus {
  return {
    v: 1,
    name: 'builder-1',
    systems: ['x86_64-linux', 'i686-linux'],
    supportedFeatures: ['kvm', 'big-parallel'],
    mandatoryFeatures: [],
    slots: 8,
    slotsInUse: 3,
    cores: 8,
    speed: 1.5,
    load: 0.25,
    freeDiskBytes: 512 * 1024 ** 3,
    sshUser: 'nix-builder',
    sshPort: 22,
    hostKey: ED25519_KEY,
    seq: 0,
    sentAt: 1_760_000_000_000,
    version: '0.1.0',
    ...overrides
  }
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
/** The JSON of a good status with one key set (undefined deletes it): what a hostile peer could send. */
function withField (key: string, value: unknown): Uint8Array {
  const doc: Record<string, unknown> = { ...status() }
  if (value === undefined) delete doc[key]
  else doc[key] = value
  return bytes(JSON.stringify(doc))
}

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`

function rejected (raw: Uint8Array): InvalidFieldError {
  try {
    decodeStatus(raw)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidFieldError)
    return err as InvalidFieldError
  }
  throw new Error('expected decodeStatus to throw')
}

describe('status round trip', () => {
  it.each([
    ['a typical builder', status()],
    ['no host key, no features', status({ hostKey: null, supportedFeatures: [], mandatoryFeatures: ['benchmark'] })],
    ['every slot in use', status({ slots: 1, slotsInUse: 1 })],
    ['extremes', status({ load: 1, freeDiskBytes: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, sentAt: 1, sshPort: 65535, version: '10.2.3-rc.1+g1a2b' })],
    ['an RSA host key', status({ hostKey: RSA_2048_KEY })]
  ])('%s', (_, s) => {
    expect(decodeStatus(encodeStatus(s))).toEqual(s)
  })

  it('encodes one compact JSON object, version first', () => {
    const text = new TextDecoder().decode(encodeStatus(status()))
    expect(text.startsWith(`{"v":${STATUS_VERSION},"name":"builder-1",`)).toBe(true)
    expect(text).not.toContain('\n')
  })

  it('drops a host key comment and duplicate features', () => {
    const decoded = decodeStatus(withField('hostKey', `${ED25519_KEY} root@builder`))
    expect(decoded.hostKey).toBe(ED25519_KEY)
    expect(decodeStatus(withField('supportedFeatures', ['kvm', 'kvm'])).supportedFeatures).toEqual(['kvm'])
  })

  it('ignores unknown keys, so a later version may add some', () => {
    expect(decodeStatus(withField('cpuModel', { nested: [1, 2] }))).toEqual(status())
    expect(decodeStatus(withField('__proto__', { slots: 99 }))).toEqual(status())
  })

  it('ignores an unknown key however deeply nested', () => {
    const text = JSON.stringify(status()).replace(/}$/, `,"x":${deep(1500)}}`)
    expect(decodeStatus(bytes(text))).toEqual(status())
  })

  it('reads own keys only: a `__proto__` key does not supply a missing field', () => {
    const { slots, ...rest } = status()
    const text = JSON.stringify(rest).replace(/}$/, `,"__proto__":{"slots":${slots}}}`)
    expect(rejected(bytes(text)).field).toBe('slots')
  })
})

describe('encodeStatus', () => {
  it('refuses what the receiver would refuse, naming the field', () => {
    expect(() => encodeStatus(status({ slotsInUse: 9 }))).toThrow(expect.objectContaining({ field: 'slotsInUse' }))
    expect(() => encodeStatus(status({ load: Number.NaN }))).toThrow(expect.objectContaining({ field: 'load' }))
    expect(() => encodeStatus(status({ name: 'a b' }))).toThrow(InvalidFieldError)
  })

  it('throws MessageTooLargeError past MAX_STATUS_BYTES', () => {
    const features = Array.from({ length: 32 }, (_, i) => `f${i}`.padEnd(64, 'x'))
    const encode = (): unknown => encodeStatus(status({ supportedFeatures: features, mandatoryFeatures: features }))
    expect(encode).toThrow(MessageTooLargeError)
    expect(encode).toThrow(expect.objectContaining({ code: 'ERR_MESSAGE_TOO_LARGE' }))
  })
})

describe('decodeStatus refuses', () => {
  it.each([
    // the document itself
    ['an empty message', bytes(''), 'status'],
    ['text that is not JSON', bytes('v=1 name=x'), 'status'],
    ['truncated JSON', encodeStatus(status()).subarray(0, 50), 'status'],
    ['invalid UTF-8', Uint8Array.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), 'status'],
    ['a UTF-8 byte order mark', bytes(`\ufeff${JSON.stringify(status())}`), 'status'],
    ['an array', bytes(JSON.stringify([status()])), 'status'],
    ['null', bytes('null'), 'status'],
    ['a string', bytes('"status"'), 'status'],
    ['a number', bytes('1'), 'status'],
    ['deeply nested arrays', bytes(deep(2000)), 'status'],
    ['deeply nested inside a status', bytes(`{"v":1,"x":${deep(1900)}}`), 'slots'],
    ['one byte over the limit', bytes(JSON.stringify({ ...status(), pad: 'x'.repeat(MAX_STATUS_BYTES) }).slice(0, MAX_STATUS_BYTES + 1)), 'status'],
    // version
    ['no version', withField('v', undefined), 'v'],
    ['version 2', withField('v', 2), 'v'],
    ['version as a string', withField('v', '1'), 'v'],
    ['version 1.0', bytes(JSON.stringify(status()).replace('"v":1', '"v":1.5')), 'v'],
    // name
    ['a name with a newline', withField('name', 'evil\nhost'), 'name'],
    ['a name with a space', withField('name', 'a b'), 'name'],
    ['a name as a number', withField('name', 7), 'name'],
    ['a null name', withField('name', null), 'name'],
    // lists
    ['systems as a comma string', withField('systems', 'x86_64-linux'), 'systems'],
    ['no systems', withField('systems', []), 'systems'],
    ['a system smuggling a machine', withField('systems', ['x86_64-linux\nssh://evil']), 'systems'],
    ['a nested systems list', withField('systems', [['x86_64-linux']]), 'systems'],
    ['a feature with ;', withField('supportedFeatures', ['kvm;x']), 'supportedFeatures'],
    ['a feature with #', withField('mandatoryFeatures', ['kvm#']), 'mandatoryFeatures'],
    ['a feature that is a number', withField('supportedFeatures', [1]), 'supportedFeatures'],
    ['features as an object', withField('supportedFeatures', { 0: 'kvm' }), 'supportedFeatures'],
    ['too many features', withField('supportedFeatures', Array.from({ length: 33 }, (_, i) => `f${i}`)), 'supportedFeatures'],
    ['missing mandatory features', withField('mandatoryFeatures', undefined), 'mandatoryFeatures'],
    // numbers
    ['slots as a string', withField('slots', '8'), 'slots'],
    ['zero slots', withField('slots', 0), 'slots'],
    ['fractional slots', withField('slots', 1.5), 'slots'],
    ['huge slots', withField('slots', 1e300), 'slots'],
    ['overflowing slots', bytes(JSON.stringify(status()).replace('"slots":8', '"slots":1e999')), 'slots'],
    ['negative slots in use', withField('slotsInUse', -1), 'slotsInUse'],
    ['more in use than slots', withField('slotsInUse', 9), 'slotsInUse'],
    ['zero cores', withField('cores', 0), 'cores'],
    ['fractional cores', withField('cores', 1.5), 'cores'],
    ['missing cores', withField('cores', undefined), 'cores'],
    ['zero speed', withField('speed', 0), 'speed'],
    ['speed as a string', withField('speed', '2'), 'speed'],
    ['slots in use as a boolean', withField('slotsInUse', true), 'slotsInUse'],
    ['load over 1', withField('load', 1.01), 'load'],
    ['negative load', withField('load', -0.1), 'load'],
    ['load as a string', withField('load', '0.5'), 'load'],
    ['negative disk', withField('freeDiskBytes', -1), 'freeDiskBytes'],
    ['unsafe disk', withField('freeDiskBytes', 2 ** 53), 'freeDiskBytes'],
    ['port 0', withField('sshPort', 0), 'sshPort'],
    ['port 65536', withField('sshPort', 65536), 'sshPort'],
    ['port as a string', withField('sshPort', '22'), 'sshPort'],
    ['negative seq', withField('seq', -1), 'seq'],
    ['fractional seq', withField('seq', 0.5), 'seq'],
    ['unsafe seq', withField('seq', 2 ** 53), 'seq'],
    ['missing seq', withField('seq', undefined), 'seq'],
    ['sentAt 0', withField('sentAt', 0), 'sentAt'],
    ['negative sentAt', withField('sentAt', -1_760_000_000_000), 'sentAt'],
    ['sentAt as an ISO date', withField('sentAt', '2025-10-09T08:53:20Z'), 'sentAt'],
    ['unsafe sentAt', withField('sentAt', 1e20), 'sentAt'],
    // strings
    ['a root user with a newline', withField('sshUser', 'root\nx'), 'sshUser'],
    ['a user with a quote', withField('sshUser', 'ro"ot'), 'sshUser'],
    ['a host key that is not one', withField('hostKey', 'ssh-ed25519 AAAA!!!!'), 'hostKey'],
    ['a host key with a newline', withField('hostKey', `ssh-ed25519\n${ED25519_KEY.split(' ')[1] ?? ''}`), 'hostKey'],
    ['a relabelled host key', withField('hostKey', `ecdsa-sha2-nistp256 ${ED25519_KEY.split(' ')[1] ?? ''}`), 'hostKey'],
    ['a missing host key (null must be said)', withField('hostKey', undefined), 'hostKey'],
    ['a host key as an object', withField('hostKey', { type: 'ssh-ed25519' }), 'hostKey'],
    ['an empty version', withField('version', ''), 'version'],
    ['a version with a space', withField('version', '1.0 beta'), 'version'],
    ['a version with an escape', withField('version', '1.0\u001b[2J'), 'version'],
    ['a version with a bidi override', withField('version', '1.0\u202e'), 'version'],
    ['a long version', withField('version', '1'.repeat(33)), 'version'],
    ['a version as a number', withField('version', 1), 'version']
  ])('%s', (_, raw, field) => {
    expect(rejected(raw).field).toBe(field)
  })

  it('checks the size before parsing', () => {
    const huge = new Uint8Array(MAX_STATUS_BYTES + 1).fill(0x5b)
    expect(rejected(huge).message).toBe(`status: ${MAX_STATUS_BYTES + 1} bytes, over the limit of ${MAX_STATUS_BYTES}`)
  })

  it('says which version it saw, before looking at any other field', () => {
    expect(rejected(bytes('{"v":2,"name":"a new format"}')).message).toBe('v: version "2" (number), this build reads version 1')
    expect(rejected(bytes('{}')).message).toBe('v: no version, this build reads version 1')
  })

  it('quotes a hostile value without breaking the message', () => {
    expect(rejected(withField('name', 'x\n\u001b[31mred')).message).not.toMatch(/[\n\u001b]/)
  })
})
