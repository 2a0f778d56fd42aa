import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { AuthorizedKeysFile } from '../../../agent/authorized-keys.ts'
import { canRunSshd, run, startLoopbackSshd, stopChild, type LoopbackSshd, type Run } from '../../support/loopback-sshd.ts'

const canRun = canRunSshd && existsSync('/usr/bin/nix-daemon')
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const peerId = (seed: number): string => `12D3KooW${Array.from({ length: 44 }, (_, i) => BASE58[(seed + i * 5) % 58]).join('')}`

/**
 * Speaks the first message of the Nix worker protocol over `ssh ... true` and returns the
 * server's reply: only nix-daemon answers the client magic with its own.
 */
async function workerHandshake (sshArgs: string[]): Promise<{ magic: bigint | null, stderr: string }> {
  const ssh = spawn('ssh', [...sshArgs, 'true'], { stdio: ['pipe', 'pipe', 'pipe'] })
  try {
    let stdout = Buffer.alloc(0)
    let stderr = ''
    ssh.stderr.setEncoding('utf8')
    ssh.stderr.on('data', (chunk: string) => { stderr += chunk })
    const magic = Buffer.alloc(8)
    magic.writeBigUInt64LE(0x6e697863n) // WORKER_MAGIC_1, "cxin"
    ssh.stdin.write(magic)
    return await new Promise((resolve) => {
      ssh.stdout.on('data', (chunk: Buffer) => {
        stdout = Buffer.concat([stdout, chunk])
        if (stdout.length >= 8) resolve({ magic: stdout.readBigUInt64LE(0), stderr })
      })
      ssh.on('exit', () => { resolve({ magic: null, stderr }) })
    })
  } finally {
    await stopChild(ssh)
  }
}

describe.skipIf(!canRun)('an authorized_keys line written by AuthorizedKeysFile, read by the real sshd', () => {
  it('forces nix-daemon --stdio, which Nix\'s ssh-ng store accepts, and a revoked key is refused', { timeout: 60_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'buildmesh-sshd-'))
    let sshd: LoopbackSshd | undefined
    try {
      for (const name of ['master', 'other']) {
        expect((await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)])).code).toBe(0)
      }
      const masterKey = await readFile(join(dir, 'master.pub'), 'utf8')
      const otherKey = await readFile(join(dir, 'other.pub'), 'utf8')

      const authorizedKeys = join(dir, 'home', '.ssh', 'authorized_keys')
      const keys = new AuthorizedKeysFile({ path: authorizedKeys, log: pino({ level: 'silent' }) })
      const master = peerId(1)
      expect(await keys.authorize(master, masterKey)).toBe(true)
      // A line the user keeps: the other key logs in without a forced command.
      await writeFile(authorizedKeys, `${otherKey.trim()}\n${await readFile(authorizedKeys, 'utf8')}`)

      sshd = await startLoopbackSshd(dir, authorizedKeys)
      const port = sshd.port

      const common = ['-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR']
      const asMaster = [...common, '-i', join(dir, 'master'), 'root@127.0.0.1']

      // The other key runs what it asks for; the master's key gets nix-daemon whatever it asks.
      expect(await run('ssh', [...common, '-i', join(dir, 'other'), 'root@127.0.0.1', 'echo', 'shell'])).toMatchObject({ code: 0, stdout: 'shell\n' })
      const echo = await run('ssh', [...asMaster, 'echo', 'shell'])
      expect(echo.stdout).toBe('')
      // nix-daemon ran instead of echo: it reads the end of its input, or, when sshd hangs up on
      // it first, says it was interrupted. Either is Nix's daemon speaking, never a shell.
      expect(echo.stderr).toMatch(/^error: (unexpected end-of-file|interrupted by the user)/m)
      const handshake = await workerHandshake(asMaster)
      expect(handshake.magic).toBe(0x6478696fn) // WORKER_MAGIC_2, "oixd": nix-daemon answered

      const nix = async (): Promise<Run> => await run('nix', ['store', 'ping', '--store', 'ssh-ng://root@127.0.0.1', '--extra-experimental-features', 'nix-command'], {
        ...process.env,
        NIX_SSHOPTS: [...common, '-i', join(dir, 'master')].join(' ')
      })
      const ping = await nix()
      expect(ping.stderr).not.toMatch(/denied|error/i)
      expect(ping.code).toBe(0)

      expect(await keys.revoke(master)).toBe(true)
      expect((await readFile(authorizedKeys, 'utf8'))).toBe(`${otherKey.trim()}\n`)
      const refused = await run('ssh', [...asMaster, 'true'])
      expect(refused.code).toBe(255)
      expect(refused.stderr).toContain('Permission denied (publickey)')
      expect((await nix()).code).not.toBe(0)
    } finally {
      await sshd?.stop()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
