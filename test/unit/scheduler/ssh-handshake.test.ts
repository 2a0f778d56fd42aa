import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sshHandshake } from '../../../scheduler/ssh-handshake.ts'
import { ED25519_KEY } from '../../support/advertisements.ts'
import { canRunSshd, freePort, startLoopbackSshd, type LoopbackSshd } from '../../support/loopback-sshd.ts'

describe.skipIf(!canRunSshd)('sshHandshake against a real sshd', () => {
  let dir: string
  let sshd: LoopbackSshd

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-handshake-'))
    await writeFile(join(dir, 'authorized_keys'), '')
    sshd = await startLoopbackSshd(dir, join(dir, 'authorized_keys'))
  })
  afterAll(async () => {
    await sshd?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('passes when sshd answers with the pinned host key, even though it refuses our login', async () => {
    expect(await sshHandshake('127.0.0.1', sshd.port, sshd.hostKey)).toEqual({ ok: true, reason: null })
  })

  it('fails, naming the host key, when sshd answers with another key', async () => {
    expect(await sshHandshake('127.0.0.1', sshd.port, ED25519_KEY)).toEqual({ ok: false, reason: 'host key does not match the one the builder reported' })
  })

  it('fails as unreachable when nothing listens', async () => {
    const result = await sshHandshake('127.0.0.1', await freePort(), sshd.hostKey, 2000)
    expect(result.ok).toBe(false)
    expect(result.reason).toMatch(/^unreachable: .*ECONNREFUSED/)
  })
})
