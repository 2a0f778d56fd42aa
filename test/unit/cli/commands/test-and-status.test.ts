import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { PeerCheck } from '../../../../cli/checks/check-builder.ts'
import { main } from '../../../../cli/main.ts'
import type { PeerView } from '../../../../scheduler/peer.ts'
import { ED25519_KEY } from '../../../support/advertisements.ts'
import { freePort, makeKey } from '../../../support/loopback-sshd.ts'

const view = (over: Partial<PeerView>): PeerView => ({
  name: 'b1', peerId: null, addresses: ['127.0.0.1'], systems: ['x86_64-linux'], supportedFeatures: [], mandatoryFeatures: [],
  slots: 2, slotsInUse: 0, speed: 1, load: 0.1, freeDiskBytes: 2 ** 34, sshUser: 'root', sshPort: 22, hostKey: ED25519_KEY,
  trusted: true, untrustedReason: null, eligible: true, reason: null, lastSeen: '2026-11-24T12:00:07Z', statusAgeSeconds: 0.2,
  version: '0.1.0', kernel: '6.1.0', arch: 'x86_64', hostName: 'b1', clockOffsetMs: 12, ...over
})

describe('mesh test and mesh status, against a stand-in agent', () => {
  let dir: string
  let server: Server | undefined
  let answers: Record<string, unknown>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-test-cmd-'))
    answers = { self: { builder: null, master: true }, builders: { builders: [], known: [], sshKeyPath: join(dir, 'id_ed25519') } }
    server = createServer((socket) => {
      socket.once('data', (chunk) => {
        const { method } = JSON.parse(chunk.toString()) as { method: string }
        socket.end(`${JSON.stringify({ ok: true, result: answers[method] })}\n`)
      })
    })
    await new Promise<void>((resolve) => { server?.listen(join(dir, 'agent.sock'), resolve) })
  })
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  async function mesh (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const out: string[] = []
    const err: string[] = []
    stdout.on('data', (c: Buffer) => out.push(c.toString()))
    stderr.on('data', (c: Buffer) => err.push(c.toString()))
    const code = await main([...args, '--socket', join(dir, 'agent.sock')], { stdout, stderr, env: {} })
    return { code, stdout: out.join(''), stderr: err.join('') }
  }

  it('mesh status prints the table, or JSON, and takes no arguments', async () => {
    answers.peers = [view({}), view({ name: 'b2', clockOffsetMs: -7_000 })]
    const table = await mesh('status')
    expect(table.code).toBe(0)
    expect(table.stdout).toMatch(/^b2\s+b1\s+6\.1\.0\s+x86_64\s+0\.10\s+16\.0G\s+0\/2\s+-7\.0s!/m)
    expect(table.stdout).toMatch(/^warning: b2's clock is 7\.0 s behind this master's/m)
    const json = JSON.parse((await mesh('status', '--json')).stdout) as Array<{ name: string, clockWarning: string | null }>
    expect(json.map((s) => [s.name, s.clockWarning === null])).toEqual([['b1', true], ['b2', false]])
    expect(await mesh('status', 'b1')).toMatchObject({ code: 2, stderr: 'mesh status: mesh status takes no arguments, got "b1"\n' })
  })

  it('mesh test refuses a bad REGEX as a usage error', async () => {
    answers.peers = [view({})]
    expect(await mesh('test', '(')).toMatchObject({ code: 2, stderr: expect.stringMatching(/^mesh test: "\(" is not a regular expression: /) })
  })

  it('mesh test says why nothing matched: only untrusted peers, or none, or this host', async () => {
    answers.peers = [view({ trusted: false, untrustedReason: 'wrong mesh key' }), view({ name: 'm' })]
    answers.self = { builder: { name: 'm' }, master: true }
    expect(await mesh('test')).toEqual({ code: 1, stdout: '', stderr: 'mesh test: no trusted peer (b1: wrong mesh key)\n' })
    expect(await mesh('test', '^x')).toEqual({ code: 1, stdout: '', stderr: 'mesh test: no trusted peer matches "^x"\n' })
  })

  it('mesh test needs the master\'s key, one SSH can use', async () => {
    answers.peers = [view({})]
    const run = await mesh('test')
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/^mesh test: cannot read the master's SSH key \S+id_ed25519: ENOENT.*\(run mesh test as the agent's user\)\n$/)
    await writeFile(join(dir, 'id_ed25519'), 'garbage')
    expect(await mesh('test')).toMatchObject({ code: 1, stderr: expect.stringMatching(/^mesh test: the master's SSH key \S+ is not usable: /) })
  })

  it('mesh test fails a builder nobody answers for, exit 1, with --json for scripts', async () => {
    await makeKey(dir, 'id_ed25519')
    answers.peers = [view({ sshPort: await freePort() })]
    const text = await mesh('test', 'b')
    expect(text.code).toBe(1)
    expect(text.stdout).toMatch(/^ {2}FAIL {2}SSH reachable: nothing listens on 127\.0\.0\.1:\d+ \(connection refused\)\n {8}fix: Start sshd/m)
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('1 builder tested: 0 passed, 1 failed (b1)')
    const json = await mesh('test', '--json', '--timeout', '5')
    expect(json.code).toBe(1)
    const [check] = JSON.parse(json.stdout) as PeerCheck[]
    expect(check).toMatchObject({ name: 'b1', host: '127.0.0.1', user: 'root', passed: false })
    expect(check?.steps.map((s) => s.status)).toEqual(['fail', 'skip', 'skip', 'skip', 'skip', 'skip', 'pass'])
  })
})
