import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loadOrCreateIdentity } from '../../../agent/identity.ts'
import { BuildmeshError } from '../../../common/errors.ts'

function capturingLog (): { log: pino.Logger, lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { chunks.push(String(chunk)); done() } })
  return { log: pino({ level: 'info' }, sink), lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

describe('loadOrCreateIdentity', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-identity-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('creates an Ed25519 key at STATE/identity.key, mode 0600, and logs only its peer id', async () => {
    const { log, lines } = capturingLog()
    const stateDir = join(dir, 'state')
    const key = await loadOrCreateIdentity(stateDir, log)
    expect(key.type).toBe('Ed25519')
    expect((await stat(join(stateDir, 'identity.key'))).mode & 0o777).toBe(0o600)
    expect(await readdir(stateDir)).toEqual(['identity.key'])
    const peerId = peerIdFromPrivateKey(key).toString()
    expect(lines()).toMatchObject([{ peerId, msg: 'created libp2p identity' }])
    const logged = JSON.stringify(lines())
    expect(logged).not.toContain(Buffer.from(key.raw).toString('base64'))
    expect(logged).not.toContain(Buffer.from(key.raw).toString('hex'))
  })

  it('gives the same identity on every later load, quietly', async () => {
    const first = await loadOrCreateIdentity(dir, pino({ level: 'silent' }))
    const { log, lines } = capturingLog()
    const second = await loadOrCreateIdentity(dir, log)
    expect(peerIdFromPrivateKey(second).equals(peerIdFromPrivateKey(first))).toBe(true)
    expect(second.equals(first)).toBe(true)
    expect(lines()).toEqual([])
  })

  it('refuses a damaged or foreign file and leaves it in place', async () => {
    const path = join(dir, 'identity.key')
    const valid = privateKeyToProtobuf(await generateKeyPair('Ed25519'))
    const secp = privateKeyToProtobuf(await generateKeyPair('secp256k1'))
    for (const content of [Buffer.alloc(0), Buffer.from('garbage'), Buffer.from(valid.subarray(0, 40)), Buffer.from(secp)]) {
      await writeFile(path, content, { mode: 0o600 })
      const err: unknown = await loadOrCreateIdentity(dir, pino({ level: 'silent' })).then(() => null, (e: unknown) => e)
      expect(err).toBeInstanceOf(BuildmeshError)
      expect((err as BuildmeshError).code).toBe('ERR_IDENTITY')
      expect((err as Error).message).toContain(path)
      expect(await readdir(dir)).toEqual(['identity.key'])
    }
  })

  it('calls an identity it cannot read an identity error, even as root', async () => {
    await mkdir(join(dir, 'identity.key'))
    const err: unknown = await loadOrCreateIdentity(dir, pino({ level: 'silent' })).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(BuildmeshError)
    expect((err as BuildmeshError).code).toBe('ERR_IDENTITY')
    expect((err as Error).message).toContain('cannot read')
  })
})
