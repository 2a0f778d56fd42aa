import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fingerprint, NO_PINNED_KEY_TYPE, probeSsh, type SshTarget } from '../../../../cli/checks/ssh-probe.ts'
import { ECDSA_P256_KEY, ED25519_KEY } from '../../../support/advertisements.ts'
import { canRunSshd, freePort, makeKey, startLoopbackSshd, type LoopbackSshd } from '../../../support/loopback-sshd.ts'

const FAKE_DAEMON = resolve(import.meta.dirname, '../../../support/fake-nix-daemon-main.ts')

/** probeSsh against a real sshd whose forced command is a fake nix-daemon (or something else). */
describe.skipIf(!canRunSshd)('probeSsh against a real sshd', () => {
  let dir: string
  let sshd: LoopbackSshd
  let master: { file: string, publicKey: string }
  let privateKey: Buffer
  const keys = (): string => join(dir, 'authorized_keys')
  const target = (over: Partial<SshTarget> = {}): SshTarget => ({ host: '127.0.0.1', port: sshd.port, user: 'root', hostKey: sshd.hostKey, ...over })
  const forced = async (command: string): Promise<void> => { await writeFile(keys(), `restrict,command="${command}" ${master.publicKey}\n`) }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-probe-'))
    await writeFile(keys(), '')
    sshd = await startLoopbackSshd(dir, keys())
    master = await makeKey(dir, 'master')
    privateKey = await readFile(master.file)
  })
  afterAll(async () => {
    await sshd?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('logs in with the pinned host key and the master\'s key, and hears a trusting daemon', async () => {
    await forced(`${process.execPath} ${FAKE_DAEMON} trusted`)
    expect(await probeSsh(target(), privateKey, AbortSignal.timeout(10_000))).toEqual({
      connectError: null,
      offeredKey: sshd.hostKey,
      loginError: null,
      loggedIn: true,
      daemon: { hello: { protocol: '1.34', nixVersion: '2.8.0' }, failure: null, trusted: true, trustError: null }
    })
  })

  it('hears a daemon that does not trust the user', async () => {
    await forced(`${process.execPath} ${FAKE_DAEMON} untrusted`)
    const facts = await probeSsh(target(), privateKey, AbortSignal.timeout(10_000))
    expect(facts.daemon?.trusted).toBe(false)
  })

  it('stops before logging in when sshd shows another host key, or none is pinned', async () => {
    await forced(`${process.execPath} ${FAKE_DAEMON} trusted`)
    for (const hostKey of [ED25519_KEY, null]) {
      const facts = await probeSsh(target({ hostKey }), privateKey, AbortSignal.timeout(10_000))
      expect(facts).toEqual({ connectError: null, offeredKey: sshd.hostKey, loginError: null, loggedIn: false, daemon: null })
    }
    expect(fingerprint(sshd.hostKey)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/)
  })

  it('records an sshd without a host key of the pinned type as answering, with another key', async () => {
    const facts = await probeSsh(target({ hostKey: ECDSA_P256_KEY }), privateKey, AbortSignal.timeout(10_000))
    expect(facts).toMatchObject({ connectError: { code: NO_PINNED_KEY_TYPE }, offeredKey: null, loggedIn: false })
  })

  it('records sshd refusing the master\'s key', async () => {
    await writeFile(keys(), '')
    const facts = await probeSsh(target(), privateKey, AbortSignal.timeout(10_000))
    expect(facts.loggedIn).toBe(false)
    expect(facts.loginError).toMatch(/authentication methods failed/)
  })

  it('keeps the last words and exit code of a forced command that is not there', async () => {
    await forced('nix-daemon-nowhere --stdio')
    const facts = await probeSsh(target(), privateKey, AbortSignal.timeout(10_000))
    expect(facts.daemon?.failure).toMatchObject({ reason: 'ended', exitCode: 127 })
    expect(facts.daemon?.failure?.stderr).toMatch(/nix-daemon-nowhere: (command )?not found$/)
  })

  it('gives up on a daemon that never answers when time runs out', async () => {
    await forced('sleep 30')
    const started = Date.now()
    const facts = await probeSsh(target(), privateKey, AbortSignal.timeout(1500))
    expect(facts.loggedIn).toBe(true)
    expect(facts.daemon?.failure?.reason).toBe('timeout')
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('records a refused connection', async () => {
    const facts = await probeSsh(target({ port: await freePort() }), privateKey, AbortSignal.timeout(5000))
    expect(facts.connectError?.code).toBe('ECONNREFUSED')
    expect(facts.offeredKey).toBeNull()
  })
})
