import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { encodeStrings } from '../../../../cli/build-hook/protocol.ts'
import { Collector, makeFakeHook, nixSettings, nixTry, type FakeHook } from '../build-hook/fake-hook.ts'

const root = join(import.meta.dirname, '..', '..', '..', '..')
const line = (host: string): string => `ssh-ng://root@${host} x86_64-linux /k 2 1 - - -`

/**
 * A fake agent on a real control socket: answers `decide` from a list, records every request,
 * and closes each connection after one answer, as agents before kept connections did.
 */
async function fakeAgent (path: string, answers: unknown[]): Promise<{ server: Server, requests: unknown[] }> {
  const requests: unknown[] = []
  const server = createServer((socket) => {
    let text = ''
    socket.on('data', (chunk) => {
      text += chunk.toString()
      if (!text.includes('\n')) return
      const request = JSON.parse(text) as { method: string }
      requests.push(request)
      socket.end(`${JSON.stringify({ ok: true, result: request.method === 'decide' ? answers.shift() : { released: true } })}\n`)
    })
  })
  await new Promise<void>((resolve) => { server.listen(path, resolve) })
  return { server, requests }
}

/**
 * The real `mesh build-hook` as Nix runs it: requests on stdin, answers on stderr, the build
 * log pipe as fds 4 and 5, Nix's verbosity as the argument. Nix's own hook is the fake.
 */
describe('mesh build-hook', () => {
  let fake: FakeHook
  let socket: string
  let server: Server | undefined

  beforeEach(async () => {
    fake = await makeFakeHook()
    socket = join(fake.dir, 'agent.sock')
  })
  afterEach(async () => {
    server?.close()
    server = undefined
    await rm(fake.dir, { recursive: true, force: true })
  })

  function hook (extraEnv: NodeJS.ProcessEnv = {}): { stdin: NodeJS.WritableStream, stderr: Collector, log: Collector, exited: Promise<number | null>, pid: number | undefined } {
    const child = spawn(process.execPath, [join(root, 'cli', 'mesh.ts'), 'build-hook', '--socket', socket, '--nix-machines', join(fake.dir, 'machines'), '--real-hook', fake.script, '3'], {
      env: { ...process.env, FAKE_RECORD: fake.record, ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe', 'ignore', 'pipe', 'pipe']
    })
    const stderr = new Collector()
    const log = new Collector()
    child.stderr!.pipe(stderr)
    ;(child.stdio[4] as Readable).pipe(log)
    const exited = new Promise<number | null>((resolve) => { child.once('close', (code) => { resolve(code) }) })
    return { stdin: child.stdin!, stderr, log, exited, pid: child.pid }
  }

  it('hands everything to Nix\'s own hook when the agent is down: the settings as sent, the open request, the rest', async () => {
    const builders = `${line('10.0.0.9')}\n${line('10.0.0.8')}`
    const h = hook()
    h.stdin.write(Buffer.concat([nixSettings(builders), nixTry(1).bytes]))
    await h.stderr.waitFor('# postpone\n')
    h.stdin.end(nixTry(2, false).bytes)
    expect(await h.exited).toBe(0)
    expect(h.stderr.text).toMatch(/^@nix \{"action":"msg","level":1,"msg":"buildmesh: the agent cannot decide \(cannot reach the buildmesh agent at .*\); Nix's own build hook takes over"\}\n/)
    expect(h.stderr.text.split('\n').slice(1)).toEqual(['plain line from the fake', '# postpone', 'plain line from the fake', '# postpone', ''])
    expect(await fake.records()).toEqual([
      { argv: ['3'], builders, settings: 3 },
      { try: nixTry(1).request },
      { try: nixTry(2, false).request },
      { ended: true }
    ])
  })

  it('builds on the agent\'s choice, passing the build log (fd 4) and the exit code through, then releases the slot', async () => {
    const agent = await fakeAgent(socket, [{ kind: 'remote', host: '10.0.0.1', nixLine: line('10.0.0.1'), reservation: 'r-1' }])
    server = agent.server
    const h = hook({ FAKE_EXIT: '1' })
    h.stdin.write(Buffer.concat([nixSettings(`@${join(fake.dir, 'machines')}`), nixTry(1).bytes]))
    await h.stderr.waitFor('# accept\n')
    h.stdin.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await h.exited).toBe(1)
    expect(h.stderr.text).toContain('# accept\nssh-ng://root@10.0.0.1\n@nix {"action":"msg","level":0,"msg":"fake: built"}\n')
    expect(h.log.text).toBe('build log from the fake\n')
    // Nix starts the hook: here, this test is its parent, the run of Nix it serves.
    expect(agent.requests).toEqual([
      { method: 'decide', params: { maxJobs: 1, system: 'x86_64-linux', requiredFeatures: [], amWilling: true, drvPath: nixTry(1).request.drvPath, forecast: true, nixRun: process.pid, hookPid: h.pid }, keepOpen: true },
      { method: 'release', params: { reservation: 'r-1', outcome: 'failed' }, keepOpen: true }
    ])
    expect((await fake.records()).at(-1)).toEqual({ inputs: ['/nix/store/a-input'], outputs: ['out'], stdinEnded: true })
  })

  it('hands over with the open request when Nix\'s hook for the chosen machine dies without answering', async () => {
    const agent = await fakeAgent(socket, [{ kind: 'remote', nixLine: line('10.0.0.4'), reservation: 'r-1' }])
    server = agent.server
    const builders = `@${join(fake.dir, 'machines')}`
    const h = hook()
    h.stdin.write(Buffer.concat([nixSettings(builders), nixTry(1).bytes]))
    await h.stderr.waitFor('# postpone\n')
    h.stdin.end()
    expect(await h.exited).toBe(0)
    expect(h.stderr.text).toContain('"msg":"buildmesh: Nix\'s build hook for 10.0.0.4 ended without answering; Nix\'s own build hook takes over"')
    expect(agent.requests.at(-1)).toEqual({ method: 'release', params: { reservation: 'r-1', outcome: 'failed' }, keepOpen: true })
    expect(await fake.records()).toEqual([
      { argv: ['3'], builders: line('10.0.0.4'), settings: 3 },
      { try: nixTry(1).request },
      { argv: ['3'], builders, settings: 3 },
      { try: nixTry(1).request },
      { ended: true }
    ])
  })

  it('refuses a bad argument with one line and exit 2', async () => {
    const child = spawn(process.execPath, [join(root, 'cli', 'mesh.ts'), 'build-hook', 'loud'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => { stderr += String(chunk) })
    const code = await new Promise((resolve) => { child.once('close', resolve) })
    expect({ code, stderr }).toEqual({ code: 2, stderr: 'mesh build-hook: VERBOSITY must be Nix\'s verbosity level, a number, got "loud"\n' })
  })

  it('starts without loading the agent or libp2p: Nix waits for a new hook on every remote build', async () => {
    // Node's module hooks name every module as it loads, before the command runs.
    const recorder = `data:text/javascript,${encodeURIComponent(`import { registerHooks } from 'node:module'
import { writeSync } from 'node:fs'
registerHooks({ load (url, context, next) { writeSync(2, 'loading ' + url + '\\n'); return next(url, context) } })`)}`
    const child = spawn(process.execPath, ['--import', recorder, join(root, 'cli', 'mesh.ts'), 'build-hook', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk) => { stderr += String(chunk) })
    const code = await new Promise((resolve) => { child.once('close', resolve) })
    const loaded = stderr.split('\n').filter((l) => l.startsWith('loading ')).map((l) => l.slice('loading '.length))
    expect(code).toBe(0)
    expect(loaded).toContainEqual(expect.stringMatching(/\/cli\/commands\/build-hook\.ts$/))
    expect(loaded.filter((url) => /\/node_modules\/(?:libp2p|@libp2p|@chainsafe)\/|\/agent\/agent\.ts$/.test(url))).toEqual([])
  })
})
