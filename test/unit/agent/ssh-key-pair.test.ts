import { execFile } from 'node:child_process'
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { generateSshKeyPair, loadOrCreateSshKeyPair } from '../../../agent/ssh-key-pair.ts'
import { BuildmeshError } from '../../../common/errors.ts'

const run = promisify(execFile)
const silent = pino({ level: 'silent' })

/** What the real OpenSSH derives from a private key, without the comment. */
async function sshKeygenPublic (path: string): Promise<string> {
  const { stdout } = await run('ssh-keygen', ['-y', '-f', path])
  return stdout.trim().split(/\s+/).slice(0, 2).join(' ')
}

function capturingLog (): { log: pino.Logger, lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = []
  const sink = new Writable({ write (chunk, _encoding, done) { chunks.push(String(chunk)); done() } })
  return { log: pino({ level: 'info' }, sink), lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

async function errorOf (promise: Promise<unknown>): Promise<BuildmeshError> {
  const err: unknown = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(BuildmeshError)
  expect((err as BuildmeshError).code).toBe('ERR_SSH_KEY')
  return err as BuildmeshError
}

describe('loadOrCreateSshKeyPair', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-ssh-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('creates an ed25519 pair that OpenSSH accepts: private 0600, .pub 0644 with a buildmesh comment', async () => {
    const path = join(dir, 'ssh', 'id_ed25519')
    const { log, lines } = capturingLog()
    const pair = await loadOrCreateSshKeyPair(path, log)
    expect(pair.privateKeyPath).toBe(path)
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+=*$/)
    expect(await sshKeygenPublic(path)).toBe(pair.publicKey)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(`${path}.pub`)).mode & 0o777).toBe(0o644)
    expect(await readFile(`${path}.pub`, 'utf8')).toBe(`${pair.publicKey} buildmesh@${hostname()}\n`)
    expect((await readdir(join(dir, 'ssh'))).sort()).toEqual(['id_ed25519', 'id_ed25519.pub'])
    expect(lines()).toMatchObject([{ publicKey: pair.publicKey }])
    expect(JSON.stringify(lines())).not.toContain('PRIVATE KEY')
  })

  it('returns the same public key on reload, with or without the .pub file', async () => {
    const path = join(dir, 'id_ed25519')
    const first = await loadOrCreateSshKeyPair(path, silent)
    const privateBefore = await readFile(path, 'utf8')
    expect(await loadOrCreateSshKeyPair(path, silent)).toEqual(first)
    await rm(`${path}.pub`)
    expect(await loadOrCreateSshKeyPair(path, silent)).toEqual(first)
    expect(await readFile(path, 'utf8')).toBe(privateBefore)
  })

  it('warns about a .pub that does not match and uses the private key', async () => {
    const path = join(dir, 'id_ed25519')
    const first = await loadOrCreateSshKeyPair(path, silent)
    const other = await loadOrCreateSshKeyPair(join(dir, 'other'), silent)
    await writeFile(`${path}.pub`, `${other.publicKey} someone\n`)
    const { log, lines } = capturingLog()
    expect(await loadOrCreateSshKeyPair(path, log)).toEqual(first)
    expect(lines()).toMatchObject([{ level: 40, publicKey: first.publicKey }])
  })

  it.each([['rsa', ['-b', '2048']], ['ecdsa', ['-b', '256']]])('uses an existing %s key made by ssh-keygen', async (type, bits) => {
    const path = join(dir, `id_${type}`)
    await run('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-f', path])
    const pair = await loadOrCreateSshKeyPair(path, silent)
    expect(pair.publicKey).toBe(await sshKeygenPublic(path))
  })

  it('refuses a passphrase-protected key', async () => {
    const path = join(dir, 'id_ed25519')
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', path])
    expect((await errorOf(loadOrCreateSshKeyPair(path, silent))).message).toContain('passphrase')
  })

  it('refuses a dsa key, which current ssh no longer offers', async (context) => {
    const path = join(dir, 'id_dsa')
    // OpenSSH builds from 10.0 on cannot make one at all: nothing to test there.
    if (!await run('ssh-keygen', ['-q', '-t', 'dsa', '-N', '', '-f', path]).then(() => true, () => false)) context.skip()
    expect((await errorOf(loadOrCreateSshKeyPair(path, silent))).message).toContain('ssh-dss keys are not supported')
  })

  it('refuses a private key that others can read, as ssh would', async () => {
    const path = join(dir, 'id_ed25519')
    await loadOrCreateSshKeyPair(path, silent)
    await chmod(path, 0o644)
    expect((await errorOf(loadOrCreateSshKeyPair(path, silent))).message).toContain(`chmod 600 ${path}`)
  })

  it('refuses a public key or garbage in place of the private key, and keeps the file', async () => {
    const path = join(dir, 'id_ed25519')
    const { publicKey } = await loadOrCreateSshKeyPair(join(dir, 'other'), silent)
    for (const content of [`${publicKey}\n`, 'garbage\n']) {
      await writeFile(path, content, { mode: 0o600 })
      const { message } = await errorOf(loadOrCreateSshKeyPair(path, silent))
      expect(message).toMatch(content === 'garbage\n' ? /^SSH key \S+: not a usable private key \(.+\); if the agent made it, delete it and its \.pub/ : /holds a public key/)
      expect(await readFile(path, 'utf8')).toBe(content)
    }
  })

  it('never hands out the 31-byte ed25519 keys ssh2\'s generator makes about once in 256', () => {
    // Without the check, 3000 pairs contain a spoiled one with odds 1 - (255/256)^3000 > 0.99999.
    for (let i = 0; i < 3000; i++) {
      const { publicKey } = generateSshKeyPair('/k')
      const blob = Buffer.from(publicKey.split(' ')[1] as string, 'base64')
      // string "ssh-ed25519" then string key: 4 + 11 + 4 + 32 bytes.
      expect(blob.length).toBe(51)
    }
  })

  it('replaces a pair it cannot read, and says which file after 16 bad ones', () => {
    const good = generateSshKeyPair('/k')
    let calls = 0
    const pair = generateSshKeyPair('/k', () => {
      calls++
      return calls === 1 ? { private: 'spoiled', public: 'spoiled' } : { private: good.private, public: good.public }
    })
    expect(calls).toBe(2)
    expect(pair.publicKey).toBe(good.publicKey)
    let err: unknown
    try {
      generateSshKeyPair('/etc/k', () => ({ private: 'spoiled', public: good.public }))
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(BuildmeshError)
    expect((err as BuildmeshError).message).toBe('SSH key /etc/k: could not make a readable ed25519 key pair in 16 attempts')
  })
})
