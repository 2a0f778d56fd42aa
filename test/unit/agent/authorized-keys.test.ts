import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  AuthorizedKeysError,
  AuthorizedKeysFile,
  DEFAULT_KEY_OPTIONS,
  NIX_FORCED_COMMAND
} from '../../../agent/authorized-keys.ts'
import { InvalidFieldError, UsageError } from '../../../common/errors.ts'
import { ECDSA_P256_KEY, ED25519_KEY, RSA_2048_KEY } from '../../support/advertisements.ts'
import { publicKey } from './probe/fakes.ts'

const log = pino({ level: 'silent' })
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** A well-formed Ed25519 peer id, distinct per n. */
const peerId = (n: number): string => `12D3KooW${Array.from({ length: 44 }, (_, i) => BASE58[(n * 7 + i * (n + 3)) % 58]).join('')}`
const A = peerId(1)
const B = peerId(2)
const C = peerId(3)

const line = (id: string, key = ED25519_KEY, options = DEFAULT_KEY_OPTIONS): string => `${options} ${key} buildmesh:${id}`

// What a person keeps in the file: every kind of line we must not touch.
const OTHERS = [
  '# keys for the build user\n',
  '\n',
  `${RSA_2048_KEY} alice@laptop\n`,
  '   \n',
  `from="10.0.0.0/8" ${ECDSA_P256_KEY} backup\r\n`,
  `# restrict ${ED25519_KEY} buildmesh:${A}\n`,
  `${publicKey('ssh-ed25519', 9)} last line without newline`
]

describe('AuthorizedKeysFile', () => {
  let dir: string
  let path: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-keys-'))
    path = join(dir, 'authorized_keys')
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  const keys = (options?: string): AuthorizedKeysFile => new AuthorizedKeysFile({ path, log, ...(options === undefined ? {} : { options }) })
  const content = async (): Promise<string> => await readFile(path, 'utf8')

  it('forces nix-daemon --stdio by default', () => {
    expect(NIX_FORCED_COMMAND).toBe('nix-daemon --stdio')
    expect(DEFAULT_KEY_OPTIONS).toBe('restrict,command="nix-daemon --stdio"')
  })

  it('creates a missing file 0600 in a new 0700 directory, whatever the umask', async () => {
    path = join(dir, 'home', '.ssh', 'authorized_keys')
    const umask = process.umask(0o000)
    try {
      expect(await keys().authorize(A, `${ED25519_KEY} master@host`)).toBe(true)
    } finally {
      process.umask(umask)
    }
    expect(await content()).toBe(`${line(A)}\n`)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'home', '.ssh'))).mode & 0o777).toBe(0o700)
  })

  it('appends after the other lines, leaving them byte for byte, and adds only the newline the last one lacked', async () => {
    await writeFile(path, OTHERS.join(''))
    expect(await keys().authorize(A, ED25519_KEY)).toBe(true)
    expect(await content()).toBe(`${OTHERS.join('')}\n${line(A)}\n`)
    expect(await keys().authorize(B, ECDSA_P256_KEY)).toBe(true)
    expect(await content()).toBe(`${OTHERS.join('')}\n${line(A)}\n${line(B, ECDSA_P256_KEY)}\n`)
  })

  it('replaces a master\'s line in place when its key changes, and leaves the file alone when it does not', async () => {
    const file = keys()
    await writeFile(path, 'first\n')
    await file.authorize(A, ED25519_KEY)
    await file.authorize(B, ED25519_KEY)
    await writeFile(path, `${await content()}last\n`)
    const before = await stat(path)
    expect(await file.authorize(A, ED25519_KEY)).toBe(false)
    expect((await stat(path)).ino).toBe(before.ino)
    expect(await file.authorize(A, RSA_2048_KEY)).toBe(true)
    expect(await content()).toBe(`first\n${line(A, RSA_2048_KEY)}\n${line(B)}\nlast\n`)
  })

  it('keeps the line ending of a line it replaces, and drops duplicates of it', async () => {
    await writeFile(path, `${line(A)}\r\nmiddle\n${line(A, RSA_2048_KEY)}\n${line(B)}`)
    expect(await keys().authorize(A, ECDSA_P256_KEY)).toBe(true)
    expect(await content()).toBe(`${line(A, ECDSA_P256_KEY)}\r\nmiddle\n${line(B)}`)
  })

  it('revokes only the master\'s lines, keeping everything else (a commented-out line included)', async () => {
    await writeFile(path, `${OTHERS.slice(0, 3).join('')}${line(A)}\n${line(B)}\n${line(A)}\n${OTHERS.slice(3).join('')}`)
    expect(await keys().revoke(A)).toBe(true)
    expect(await content()).toBe(`${OTHERS.slice(0, 3).join('')}${line(B)}\n${OTHERS.slice(3).join('')}`)
    expect(await keys().revoke(A)).toBe(false)
  })

  it('revokes the last line without adding or taking a newline from the others', async () => {
    await writeFile(path, `other\n${line(A)}`)
    expect(await keys().revoke(A)).toBe(true)
    expect(await content()).toBe('other\n')
  })

  it('recognises its lines whatever options they were written with', async () => {
    await writeFile(path, `${line(A, ED25519_KEY, 'restrict')}\n${ED25519_KEY} buildmesh:${B}  \n`)
    expect(await keys().managed()).toEqual([A, B])
    expect(await keys('').authorize(B, ED25519_KEY)).toBe(true)
    expect(await content()).toBe(`${line(A, ED25519_KEY, 'restrict')}\n${ED25519_KEY} buildmesh:${B}\n`)
  })

  it('lists the masters it manages in file order, once each', async () => {
    expect(await keys().managed()).toEqual([])
    await writeFile(path, `${OTHERS.join('')}\n${line(B)}\n${line(A)}\n${line(B)}\nkey buildmesh:not-a-peer-id\n`)
    expect(await keys().managed()).toEqual([B, A])
  })

  it('revokeAll removes every line of ours and nothing else', async () => {
    await writeFile(path, `${line(A)}\n${OTHERS.join('')}\n${line(B)}\n`)
    await keys().revokeAll()
    expect(await content()).toBe(`${OTHERS.join('')}\n`)
    expect(await keys().managed()).toEqual([])
  })

  it('does not create a file to revoke from', async () => {
    expect(await keys().revoke(A)).toBe(false)
    await keys().revokeAll()
    await expect(stat(path)).rejects.toThrow(/ENOENT/)
  })

  it('keeps the file\'s mode, replaces it atomically and leaves no temporary file', async () => {
    await writeFile(path, 'other\n')
    await chmod(path, 0o640)
    const before = await stat(path)
    await keys().authorize(A, ED25519_KEY)
    const after = await stat(path)
    expect(after.mode & 0o777).toBe(0o640)
    expect(after.ino).not.toBe(before.ino)
    expect(await readdir(dir)).toEqual(['authorized_keys'])
  })

  it.skipIf(process.getuid?.() !== 0)('keeps the file\'s owner when run as root, since sshd reads it as the build user', async () => {
    await writeFile(path, 'other\n')
    await chown(path, 65534, 65534)
    await keys().authorize(A, ED25519_KEY)
    expect(await stat(path)).toMatchObject({ uid: 65534, gid: 65534 })
  })

  it('loses no line to concurrent calls, from one instance or several on the same file', async () => {
    await writeFile(path, 'other\n')
    const ids = Array.from({ length: 24 }, (_, i) => peerId(i + 10))
    const one = keys()
    await Promise.all(ids.map(async (id, i) => await (i % 2 === 0 ? one : keys()).authorize(id, publicKey('ssh-ed25519', i + 1))))
    expect(await one.managed()).toHaveLength(ids.length)
    expect(new Set(await one.managed())).toEqual(new Set(ids))

    const revoked = ids.filter((_, i) => i % 3 === 0)
    await Promise.all([
      ...revoked.map(async (id) => await keys().revoke(id)),
      one.authorize(C, ED25519_KEY),
      one.managed()
    ])
    expect(new Set(await one.managed())).toEqual(new Set([...ids.filter((id) => !revoked.includes(id)), C]))
    expect((await content()).startsWith('other\n')).toBe(true)
  })

  it('a failed call does not block the ones queued after it', async () => {
    await mkdir(path)
    const failing = keys().authorize(A, ED25519_KEY)
    const next = keys().managed()
    await expect(failing).rejects.toThrow(AuthorizedKeysError)
    await expect(next).rejects.toThrow(AuthorizedKeysError)
    await rm(path, { recursive: true })
    expect(await keys().authorize(A, ED25519_KEY)).toBe(true)
  })

  it('refuses to rewrite a file that is not UTF-8, leaving it as it was', async () => {
    const bytes = Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\n')])
    await writeFile(path, bytes)
    const err: unknown = await keys().authorize(A, ED25519_KEY).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthorizedKeysError)
    expect(err).toMatchObject({ code: 'ERR_AUTHORIZED_KEYS', path })
    expect(await readFile(path)).toEqual(bytes)
  })

  it.each([
    ['a base32 CID peer id', 'bafzaajaiaejcb'],
    ['a peer id with 0 (not base58)', `12D3KooW${'0'.repeat(44)}`],
    ['a peer id with l (not base58)', `12D3KooW${'l'.repeat(44)}`],
    ['a short id', '12D3KooW'],
    ['a 65-character id', '1'.repeat(65)],
    ['an id with a newline', `${A}\nssh-ed25519 AAAA`],
    ['an id with a space', `${A} x`]
  ])('refuses %s, writing nothing', async (_, id) => {
    await expect(keys().authorize(id, ED25519_KEY)).rejects.toThrow(expect.objectContaining({ field: 'masterId' }))
    await expect(keys().revoke(id)).rejects.toThrow(InvalidFieldError)
    await expect(stat(path)).rejects.toThrow(/ENOENT/)
  })

  it.each([
    ['a second line', `${ED25519_KEY}\n${RSA_2048_KEY}`],
    ['options before the key', `command="sh" ${ED25519_KEY}`],
    ['a truncated key', ED25519_KEY.slice(0, 40)],
    ['a DSA key', 'ssh-dss AAAAB3NzaC1kc3M=']
  ])('refuses a public key with %s', async (_, key) => {
    await expect(keys().authorize(A, key)).rejects.toThrow(expect.objectContaining({ field: 'publicKey' }))
    await expect(stat(path)).rejects.toThrow(/ENOENT/)
  })

  it('takes peer ids of both the Ed25519 and the RSA form', async () => {
    const ed25519 = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    const rsa = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
    await keys().authorize(ed25519, ED25519_KEY)
    await keys().authorize(rsa, RSA_2048_KEY)
    expect(await keys().managed()).toEqual([ed25519, rsa])
  })

  it.each([
    'restrict command="x"',
    'restrict,command="nix-daemon --stdio',
    'restrict,command="a"b"',
    'restrict,\ncommand="x"',
    'restrict,',
    'command="x\u0007"'
  ])('refuses options %j that would break the line', (options) => {
    const make = (): unknown => keys(options)
    expect(make).toThrow(UsageError)
    expect(make).toThrow(expect.objectContaining({ code: 'ERR_AUTHORIZED_KEYS_OPTIONS' }))
  })

  it('takes wider options for a later use', async () => {
    const options = 'restrict,command="guix repl -t machine",from="10.0.0.0/8",environment="A=\\"b\\""'
    await keys(options).authorize(A, ED25519_KEY)
    expect(await content()).toBe(`${line(A, ED25519_KEY, options)}\n`)
  })
})
