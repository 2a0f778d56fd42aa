import { mkdtemp, stat, writeFile } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { AgentAlreadyRunningError, ControlServer } from '../../../agent/control-server.ts'
import { decideParams } from '../../../cli/build-hook/decision.ts'
import { rootsFile, RunRoots } from '../../../cli/build-hook/run-roots.ts'
import { AgentSession, askAgent } from '../../../cli/control-client.ts'
import { MAX_ANSWERED_AHEAD, MAX_ROOTS_PIECE_BYTES } from '../../../wire/control.ts'

const log = pino({ level: 'silent' })
const servers: ControlServer[] = []

async function serve (handlers: Partial<ConstructorParameters<typeof ControlServer>[0]['handlers']> = {}): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'bm-ctl-')), 'run', 'agent.sock')
  const server = new ControlServer({ log, handlers: { peers: () => [], self: () => ({}), ...handlers } }, { path })
  await server.start()
  servers.push(server)
  return path
}

async function rawExchange (path: string, payload: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection(path)
    let received = ''
    socket.setEncoding('utf8')
    socket.on('connect', () => { socket.write(payload) })
    socket.on('data', (d: string) => { received += d })
    socket.on('end', () => { resolve(received) })
    socket.on('error', reject)
  })
}

afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop()
})

describe('control socket', () => {
  it('answers the CLI with what the handler returns', async () => {
    const path = await serve({ peers: () => [{ name: 'b1' }] })
    expect(await askAgent(path, 'peers')).toEqual([{ name: 'b1' }])
  })

  it('is created in a fresh directory, not world-writable', async () => {
    const path = await serve()
    expect((await stat(path)).mode & 0o777).toBe(0o660)
  })

  it('answers garbage and unknown methods with an error, and keeps serving', async () => {
    const path = await serve({ peers: () => ['still here'] })
    expect(JSON.parse(await rawExchange(path, 'not json\n'))).toMatchObject({ ok: false, code: 'ERR_REQUEST' })
    expect(JSON.parse(await rawExchange(path, '{"method":"shutdown"}\n'))).toMatchObject({ ok: false, error: 'unknown method "shutdown"' })
    expect(JSON.parse(await rawExchange(path, 'x'.repeat(600_000)))).toMatchObject({ ok: false, error: 'request too large' })
    expect(await askAgent(path, 'peers')).toEqual(['still here'])
  })

  it('takes the largest decide the hook sends: a whole round it answered itself, and a whole piece of the run\'s roots', async () => {
    // The longest derivation paths a request may hold.
    const drv = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-${'n'.repeat(211)}.drv`
    const dir = await mkdtemp(join(tmpdir(), 'bm-roots-'))
    const roots = join(dir, '4242')
    await writeFile(roots, Array.from({ length: 2000 }, (_, i) => `${drv(i)}\0`).join(''))
    const piece = new RunRoots(rootsFile(roots))
    piece.next()
    piece.heldByAgent(0)
    const served = { drvPaths: Array.from({ length: MAX_ANSWERED_AHEAD }, (_, i) => drv(i)), answeredAt: 1 }
    const try_ = { amWilling: false, system: 'x86_64-linux', drvPath: drv(1), requiredFeatures: [] }
    const params = decideParams(try_, { kind: 'agent', outside: [] }, 4, served, { nixRun: 4242, roots: piece.next() })
    const path = await serve({ decide: (p) => ({ served: (p as { served: string[] }).served.length, roots: (p as { runRoots: { paths: string[] } }).runRoots.paths.length }) })
    const session = new AgentSession(path)
    try {
      expect(await session.ask('decide', params)).toEqual({ served: MAX_ANSWERED_AHEAD, roots: Math.floor(MAX_ROOTS_PIECE_BYTES / (drv(0).length + 1)) })
    } finally {
      session.close()
    }
  })

  it('answers kept connections in the order asked, and closes after a request that does not keep it', async () => {
    let calls = 0
    const path = await serve({
      // The first answer is the slower one: it must still come first.
      peers: async () => { const call = ++calls; await new Promise((resolve) => setTimeout(resolve, call === 1 ? 50 : 0)); return call }
    })
    const keep = '{"method":"peers","keepOpen":true}\n'
    const answers = await rawExchange(path, `${keep}${keep}{"method":"peers"}\n${keep}`)
    expect(answers.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { ok: true, result: 1 }, { ok: true, result: 2 }, { ok: true, result: 3 }
    ])
    expect(calls).toBe(3)
  })

  it('serves a session request after request, errors included', async () => {
    let calls = 0
    const path = await serve({ peers: () => ++calls })
    const session = new AgentSession(path)
    try {
      for (let i = 1; i <= 3; i++) expect(await session.ask('peers')).toBe(i)
      await expect(session.ask('decide', {})).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' })
      expect(await session.ask('peers')).toBe(4)
    } finally {
      session.close()
    }
  })

  it('refuses to start a second agent on a socket that answers, and replaces a stale one', async () => {
    const path = await serve()
    const second = new ControlServer({ log, handlers: { peers: () => [], self: () => ({}) } }, { path })
    await expect(second.start()).rejects.toBeInstanceOf(AgentAlreadyRunningError)
    await servers.pop()?.stop()
    await second.start()
    servers.push(second)
    expect(await askAgent(path, 'peers')).toEqual([])
  })

  it('tells the user how to fix an unreachable agent', async () => {
    await expect(askAgent('/nonexistent/agent.sock', 'peers')).rejects.toMatchObject({
      code: 'ERR_AGENT_UNREACHABLE',
      message: expect.stringContaining('is `mesh agent` running?')
    })
  })
})
