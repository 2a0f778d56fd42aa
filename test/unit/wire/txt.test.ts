import { describe, expect, it } from 'vitest'
import { InvalidFieldError } from '../../../common/errors.ts'
import { TXT_VERSION } from '../../../wire/advertisement.ts'
import { decodeAdvertisement, encodeAdvertisement, MAX_TXT_BYTES, TxtTooLargeError } from '../../../wire/txt.ts'
import { advertisement, ED25519_KEY, PEER_ID } from '../../support/advertisements.ts'

/** The TXT strings as they arrive: `key=value` bytes, in order. */
function wire (txt: Record<string, string>): Uint8Array[] {
  return Object.entries(txt).map(([k, v]) => Buffer.from(`${k}=${v}`))
}

function wireSize (txt: Record<string, string>): number {
  return wire(txt).reduce((sum, s) => sum + 1 + s.length, 0)
}

/** Distinct feature names that join to exactly `length` characters. */
function featuresOfLength (length: number): string[] {
  const features: string[] = []
  let left = length
  while (left > 64) {
    features.push(`f${features.length}`.padEnd(63, 'x'))
    left -= 64
  }
  features.push(`g${'x'.repeat(left - 1)}`)
  return features
}

const base = (): Record<string, string> => encodeAdvertisement(advertisement())

function rejected (name: string, raw: Uint8Array[]): InvalidFieldError {
  try {
    decodeAdvertisement(name, raw)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidFieldError)
    return err as InvalidFieldError
  }
  throw new Error('expected decodeAdvertisement to throw')
}

describe('encodeAdvertisement', () => {
  it('writes the documented short keys', () => {
    expect(base()).toEqual({
      v: String(TXT_VERSION),
      sys: 'x86_64-linux,i686-linux',
      feat: 'kvm,big-parallel,nixos-test,benchmark',
      slots: '16',
      speed: '2',
      load: '0.25',
      disk: String(512 * 1024 ** 3),
      user: 'nix-builder',
      sport: '22',
      pid: PEER_ID,
      p2p: '4717'
    })
    for (const key of Object.keys(base())) expect(key.length).toBeLessThanOrEqual(9)
  })

  it('omits empty lists and a missing mesh identity', () => {
    const txt = encodeAdvertisement(advertisement({ supportedFeatures: [], mandatoryFeatures: [], peerId: null, p2pPort: null }))
    expect(Object.keys(txt)).toEqual(['v', 'sys', 'slots', 'speed', 'load', 'disk', 'user', 'sport'])
  })

  it('never puts the SSH host key on the LAN: a master pins only what the status stream says', () => {
    const txt = encodeAdvertisement(advertisement({ hostKey: ED25519_KEY }))
    expect(Object.values(txt).join(' ')).not.toContain(ED25519_KEY.split(' ')[1])
  })

  it('writes load and speed as short decimals', () => {
    const txt = encodeAdvertisement(advertisement({ load: 1 / 3, speed: 1.23456 }))
    expect(txt.load).toBe('0.33')
    expect(txt.speed).toBe('1.23')
    expect(encodeAdvertisement(advertisement({ speed: 0.001 })).speed).toBe('0.01')
  })

  it('throws TxtTooLargeError, saying how big, when the record would reach 400 bytes', () => {
    // Each string fits in 255 bytes; together they do not fit in 400.
    const features = Array.from({ length: 15 }, (_, i) => `feature-${i}`)
    const encode = (): unknown => encodeAdvertisement(advertisement({ supportedFeatures: features, mandatoryFeatures: features.map((f) => `m${f}`) }))
    expect(encode).toThrow(TxtTooLargeError)
    expect(encode).toThrow(/^TXT record would be \d+ bytes, it must stay under 400/)
    expect(encode).toThrow(expect.objectContaining({ code: 'ERR_TXT_TOO_LARGE' }))
  })

  it('accepts a record of 399 bytes and refuses one of 400', () => {
    const lean = advertisement({ supportedFeatures: [] })
    const room = (MAX_TXT_BYTES - 1) - wireSize(encodeAdvertisement(lean)) - (1 + 'feat='.length)
    const fits = advertisement({ supportedFeatures: featuresOfLength(room) })
    expect(wireSize(encodeAdvertisement(fits))).toBe(MAX_TXT_BYTES - 1)
    expect(() => encodeAdvertisement(advertisement({ supportedFeatures: featuresOfLength(room + 1) }))).toThrow(TxtTooLargeError)
  })

  it('refuses a TXT string over 255 bytes', () => {
    const features = Array.from({ length: 30 }, (_, i) => `a-long-feature-name-${i}`)
    expect(() => encodeAdvertisement(advertisement({ supportedFeatures: features }))).toThrow(/TXT string feat is \d+ bytes, over the DNS limit of 255/)
  })

  it('validates its own advertisement', () => {
    expect(() => encodeAdvertisement(advertisement({ systems: ['x86_64-linux\nevil'] }))).toThrow(InvalidFieldError)
    expect(() => encodeAdvertisement(advertisement({ name: 'a b' }))).toThrow(InvalidFieldError)
    expect(() => encodeAdvertisement(advertisement({ speed: NaN }))).toThrow(InvalidFieldError)
  })
})

describe('decodeAdvertisement round trip', () => {
  it.each([
    ['a typical builder', advertisement()],
    ['no features, no mesh identity', advertisement({ supportedFeatures: [], peerId: null, p2pPort: null })],
    ['mandatory features, other ports', advertisement({ mandatoryFeatures: ['benchmark'], sshPort: 2222, p2pPort: 1 })],
    ['a Mac', advertisement({ name: 'mac-mini', systems: ['aarch64-darwin', 'x86_64-darwin'], supportedFeatures: ['big-parallel'], slots: 8, speed: 4, load: 0, sshUser: '_nixbld1' })],
    ['a slow arm board', advertisement({ name: 'pi4', systems: ['aarch64-linux'], slots: 1, speed: 0.5, load: 1, freeDiskBytes: 0 })],
    ['lean', advertisement({ name: 'big', systems: ['x86_64-linux'], supportedFeatures: [], freeDiskBytes: Number.MAX_SAFE_INTEGER })]
  ])('%s', (_, ad) => {
    expect(decodeAdvertisement(ad.name, wire(encodeAdvertisement(ad)))).toEqual({ ...ad, hostKey: null })
  })

  it('matches keys without case; the first of a repeated key wins; unknown keys and empty strings are ignored', () => {
    const raw = [Buffer.from('SLOTS=3'), Buffer.from('V=1'), ...wire(base()), Buffer.from('slots=99'), Buffer.from('future=x'),
      Buffer.from('flag'), Buffer.from(''), Buffer.from('=orphan'), Buffer.from([0x62, 0x69, 0x6e, 0x3d, 0xff, 0xfe])]
    expect(decodeAdvertisement('builder-1', raw)).toEqual(advertisement({ slots: 3, hostKey: null }))
  })

  it('reads `feat=` as no features', () => {
    expect(decodeAdvertisement('b', wire({ ...base(), feat: '' })).supportedFeatures).toEqual([])
  })
})

describe('decodeAdvertisement refuses', () => {
  const withValue = (key: string, value: string): Uint8Array[] => wire({ ...base(), [key]: value })
  const without = (key: string): Uint8Array[] => {
    const txt = base()
    delete txt[key]
    return wire(txt)
  }
  const replacing = (key: string, bytes: Uint8Array): Uint8Array[] => {
    const txt = base()
    delete txt[key]
    return [...wire(txt), bytes]
  }

  it.each([
    ['newline in systems', withValue('sys', 'x86_64-linux\nssh://evil'), 'sys'],
    ['space in systems', withValue('sys', 'x86_64-linux evil'), 'sys'],
    ['; in features', withValue('feat', 'kvm;ssh://evil'), 'feat'],
    ['# in mandatory features', withValue('mfeat', 'kvm#'), 'mfeat'],
    ['empty list item', withValue('feat', 'kvm,,big-parallel'), 'feat'],
    ['newline in user', withValue('user', 'root\nx'), 'user'],
    ['quote in user', withValue('user', 'ro"ot'), 'user'],
    ['NaN slots', withValue('slots', 'NaN'), 'slots'],
    ['zero slots', withValue('slots', '0'), 'slots'],
    ['huge slots', withValue('slots', '99999999999999999999'), 'slots'],
    ['negative speed', withValue('speed', '-1'), 'speed'],
    ['zero speed', withValue('speed', '0'), 'speed'],
    ['Infinity speed', withValue('speed', 'Infinity'), 'speed'],
    ['exponent speed', withValue('speed', '1e9'), 'speed'],
    ['load over 1', withValue('load', '1.5'), 'load'],
    ['NaN load', withValue('load', 'NaN'), 'load'],
    ['negative disk', withValue('disk', '-5'), 'disk'],
    ['unsafe disk', withValue('disk', '9007199254740993'), 'disk'],
    ['port 0', withValue('sport', '0'), 'sport'],
    ['port 70000', withValue('sport', '70000'), 'sport'],
    ['port with a space', withValue('sport', '22 '), 'sport'],
    ['a peer id with a newline', withValue('pid', `${PEER_ID}\nx`), 'pid'],
    ['a peer id in another base', withValue('pid', '0x1234567890abcdef1234567890abcdef1234567890'), 'pid'],
    ['a peer id without a port', without('p2p'), 'p2p'],
    ['mesh port 0', withValue('p2p', '0'), 'p2p'],
    ['non-UTF-8 systems', replacing('sys', Buffer.from([0x73, 0x79, 0x73, 0x3d, 0xc3, 0x28])), 'sys'],
    ['non-UTF-8 user', replacing('user', Buffer.from([0x75, 0x73, 0x65, 0x72, 0x3d, 0xff])), 'user'],
    ['known key without =', replacing('slots', Buffer.from('slots')), 'slots'],
    ['missing systems', without('sys'), 'sys'],
    ['missing slots', without('slots'), 'slots'],
    ['missing speed', without('speed'), 'speed'],
    ['missing load', without('load'), 'load'],
    ['missing disk', without('disk'), 'disk'],
    ['missing user', without('user'), 'user'],
    ['missing port', without('sport'), 'sport'],
    ['missing version', without('v'), 'v'],
    ['wrong version', withValue('v', '2'), 'v'],
    ['version smuggling text', withValue('v', '1 '), 'v'],
    ['a key over 9 characters', [...wire(base()), Buffer.from('tenletters=1')], 'txt'],
    ['a key with a control byte', [...wire(base()), Buffer.from('a\nb=1')], 'txt'],
    ['a non-ASCII key', [...wire(base()), Buffer.from('ké=1')], 'txt'],
    ['a string over 255 bytes', [...wire(base()), Buffer.alloc(256, 0x61)], 'txt'],
    ['a record over 1300 bytes', [...wire(base()), ...Array.from({ length: 6 }, (_, i) => Buffer.from(`x${i}=${'a'.repeat(200)}`))], 'txt']
  ])('%s', (_, raw, field) => {
    expect(rejected('builder-1', raw).field).toBe(field)
  })

  it('says which version it saw', () => {
    expect(rejected('b', withValue('v', '2')).message).toBe('v: version "2", this build reads version 1')
    expect(rejected('b', without('v')).message).toBe('v: no version, this build reads version 1')
  })

  it('checks the version before any other field', () => {
    expect(rejected('b', wire({ v: '2', sys: 'a new format' })).field).toBe('v')
  })

  it.each(['bad name', 'a;b', 'evil\nname', '-x', 'a'.repeat(64), ''])('an instance name %j that is not a host name', (name) => {
    expect(rejected(name, wire(base())).field).toBe('name')
  })
})
