import { describe, expect, it } from 'vitest'
import { InvalidFieldError } from '../../../common/errors.ts'
import {
  validateAddress,
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
} from '../../../wire/fields.ts'
import { ECDSA_P256_KEY, ECDSA_P521_KEY, ED25519_KEY, RSA_2048_KEY } from '../../support/advertisements.ts'

function invalid (fn: () => unknown, field: string): InvalidFieldError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidFieldError)
    expect((err as InvalidFieldError).field).toBe(field)
    expect((err as InvalidFieldError).code).toBe('ERR_INVALID_FIELD')
    return err as InvalidFieldError
  }
  throw new Error('expected an InvalidFieldError')
}

// Everything a builder list could be injected with: each validator must refuse all of them.
const INJECTIONS = ['a b', 'a\tb', 'a\nb', 'a;b', 'a#b', 'a"b', 'a\\b', 'a(b', 'a)b', 'a,b\n', '', ' a', 'a\r', 'a\u0000b']

describe('field validators refuse every injection character', () => {
  const scalar: Array<[string, (v: unknown, f?: string) => unknown]> = [
    ['host name', validateHostName],
    ['system', validateSystems],
    ['features', validateFeatures],
    ['ssh user', validateSshUser],
    ['host key', validateHostKey],
    ['address', validateAddress]
  ]
  for (const [what, validate] of scalar) {
    it.each(INJECTIONS.filter((s) => !(what === 'features' && s === '')))(`${what}: %j`, (value) => {
      invalid(() => validate(value, 'f'), 'f')
    })
  }

  it('host key: injection after a valid key is cut off with the comment, never kept', () => {
    expect(validateHostKey(`${ED25519_KEY} root@x;evil\nssh-ng://x`)).toBe(ED25519_KEY)
    invalid(() => validateHostKey(`${ED25519_KEY};x`), 'hostKey')
  })
})

describe('validateHostName', () => {
  it.each(['builder', 'b', 'Builder-01', 'a'.repeat(63), '42'])('accepts %j', (name) => {
    expect(validateHostName(name)).toBe(name)
  })
  it.each(['-a', 'a-', 'a'.repeat(64), 'a.b', 'a_b', 'bü', 7, null])('refuses %j', (name) => {
    invalid(() => validateHostName(name), 'name')
  })
})

describe('validateSystems', () => {
  it('accepts the usual system types and drops duplicates', () => {
    expect(validateSystems('x86_64-linux,aarch64-darwin,riscv64-linux,i686-linux,x86_64-linux'))
      .toEqual(['x86_64-linux', 'aarch64-darwin', 'riscv64-linux', 'i686-linux'])
    expect(validateSystems(['powerpc64le-linux', 'x86_64-v3-linux'])).toEqual(['powerpc64le-linux', 'x86_64-v3-linux'])
  })
  it.each(['', 'x86_64', 'X86_64-linux', 'x86_64-linux,', ',x86_64-linux', 'a,,b', 'a-b-c-d-e', 'a--b', 'a-', `${'a'.repeat(25)}-linux`,
    Array.from({ length: 17 }, (_, i) => `s${i}-linux`).join(',')])('refuses %j', (value) => {
    invalid(() => validateSystems(value), 'systems')
  })
  it('refuses non-lists', () => {
    invalid(() => validateSystems(42), 'systems')
    invalid(() => validateSystems([42]), 'systems')
  })
})

describe('validateFeatures', () => {
  it('accepts real feature names, an empty list and drops duplicates', () => {
    expect(validateFeatures('kvm,big-parallel,nixos-test,benchmark,gccarch-x86-64-v3,kvm'))
      .toEqual(['kvm', 'big-parallel', 'nixos-test', 'benchmark', 'gccarch-x86-64-v3'])
    expect(validateFeatures('')).toEqual([])
    expect(validateFeatures(['a.b_c+d'])).toEqual(['a.b_c+d'])
  })
  it.each(['-', '-kvm', 'kvm,', 'a,,b', 'k/v', 'k=v', 'a'.repeat(65),
    Array.from({ length: 33 }, (_, i) => `f${i}`).join(',')])('refuses %j', (value) => {
    invalid(() => validateFeatures(value, 'feat'), 'feat')
  })
})

describe('numbers', () => {
  it('accepts in-range integers as numbers or decimal strings', () => {
    expect(validateSlots('1')).toBe(1)
    expect(validateSlots(1024)).toBe(1024)
    expect(validatePort('65535')).toBe(65535)
    expect(validateFreeDiskBytes('0')).toBe(0)
    expect(validateFreeDiskBytes(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER)
  })
  it.each([
    ['slots', validateSlots, ['0', '1025', '-1', '+1', '01', '1.5', '1e3', '0x10', ' 1', '1 ', 'NaN', '', 0, 1.5, NaN, Infinity, -1, null]],
    ['sshPort', validatePort, ['0', '65536', '22;', '22\n', 65536, 0]],
    ['freeDiskBytes', validateFreeDiskBytes, ['-1', '9007199254740992', '99999999999999999', '1.0', Number.MAX_SAFE_INTEGER + 1, -1]],
    ['speed', validateSpeed, ['0', '0.0', '-1', '1000000.1', '1e3', 'Infinity', 'NaN', '.5', '1.', '01', '1,5', 0, -0.5, 1e6 + 1, NaN]],
    ['load', validateLoad, ['1.01', '-0', '2', 'NaN', '0.5 ', 1.5, -0.01, NaN, Infinity]]
  ] as const)('%s refuses bad values', (field, validate, values) => {
    for (const value of values) invalid(() => validate(value), field)
  })
  it('accepts decimals for speed and load', () => {
    expect(validateSpeed('1.5')).toBe(1.5)
    expect(validateSpeed('1000000')).toBe(1e6)
    expect(validateSpeed(0.01)).toBe(0.01)
    expect(validateLoad('0')).toBe(0)
    expect(validateLoad('1')).toBe(1)
    expect(validateLoad('0.25')).toBe(0.25)
  })
})

describe('validateSshUser', () => {
  it.each(['root', 'nix-builder', '_guix', 'a'.repeat(32)])('accepts %j', (user) => {
    expect(validateSshUser(user)).toBe(user)
  })
  it.each(['Root', '-x', '1user', 'a'.repeat(33), 'us@r', 'a.b'])('refuses %j', (user) => {
    invalid(() => validateSshUser(user), 'sshUser')
  })
})

describe('validateHostKey', () => {
  it.each([ED25519_KEY, ECDSA_P256_KEY, ECDSA_P521_KEY, RSA_2048_KEY])('accepts %s', (key) => {
    expect(validateHostKey(key)).toBe(key)
  })
  it('drops the comment', () => {
    expect(validateHostKey(`${ED25519_KEY} root@builder-1\n`)).toBe(ED25519_KEY)
  })

  const [, ed25519Data = ''] = ED25519_KEY.split(' ')
  const [, p256Data = ''] = ECDSA_P256_KEY.split(' ')
  const blob = Buffer.from(ed25519Data, 'base64')
  it.each([
    ['a relabelled key type', `ssh-rsa ${ed25519Data}`, /does not match "ssh-ed25519"/],
    ['a relabelled ecdsa curve', `ecdsa-sha2-nistp384 ${p256Data}`, /does not match/],
    ['an unknown key type', `ssh-dss ${ed25519Data}`, /unsupported host key type/],
    ['no data', 'ssh-ed25519', /not base64/],
    ['bad base64', 'ssh-ed25519 AAAA$AAA', /not base64/],
    ['unpadded base64', `ssh-ed25519 ${ed25519Data.slice(0, -1)}`, /not base64/],
    ['non-canonical base64 (padding bits set)', `ecdsa-sha2-nistp256 ${p256Data.slice(0, -2)}p=`, /canonical/],
    ['a truncated blob', `ssh-ed25519 ${blob.subarray(0, 40).toString('base64')}`, /truncated/],
    ['trailing bytes', `ssh-ed25519 ${Buffer.concat([blob, Buffer.from([0, 0, 0, 0])]).toString('base64')}`, /bad ssh-ed25519 key/],
    ['a short ed25519 key', `ssh-ed25519 ${Buffer.concat([blob.subarray(0, 15), Buffer.from([0, 0, 0, 16]), blob.subarray(19, 35)]).toString('base64')}`, /bad ssh-ed25519 key/],
    ['random text', 'hello', /unsupported/],
    ['too long', `ssh-rsa ${'A'.repeat(5000)}`, /at most 4096/]
  ])('refuses %s', (_, key, message) => {
    expect(invalid(() => validateHostKey(key), 'hostKey').message).toMatch(message)
  })
})

describe('validateAddress', () => {
  it.each([
    ['192.168.1.10', '192.168.1.10'],
    ['127.0.0.1', '127.0.0.1'],
    ['2001:DB8:0:0::5', '2001:db8::5'],
    ['fe80::1%eth0', 'fe80::1%eth0'],
    ['::ffff:10.0.0.7', '10.0.0.7'],
    ['::1', '::1']
  ])('accepts %s as %s', (address, canonical) => {
    expect(validateAddress(address)).toBe(canonical)
  })
  it.each(['0.0.0.0', '::', '224.0.0.251', '239.1.2.3', '255.255.255.255', 'ff02::fb', 'FF05::1', '::ffff:224.0.0.1',
    '::ffff:0.0.0.0', '1.2.3', '01.2.3.4', 'example.com', '[::1]', 'fe80::1%', 'fe80::1%eth0 x', '1.2.3.4/24'])('refuses %s', (address) => {
    invalid(() => validateAddress(address), 'address')
  })
})
