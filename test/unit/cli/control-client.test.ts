import { mkdtemp } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AgentSession } from '../../../cli/control-client.ts'

const servers: Server[] = []
const sessions: AgentSession[] = []

/** An agent's socket that answers each request line with `answer`, counting connections. */
async function agentSocket (answer: (socket: Socket, request: { method: string }, nth: number) => void): Promise<{ path: string, connections: () => number }> {
  const path = join(await mkdtemp(join(tmpdir(), 'bm-session-')), 'agent.sock')
  let connections = 0
  const server = createServer((socket) => {
    connections++
    let text = ''
    let nth = 0
    socket.on('data', (chunk) => {
      text += chunk.toString()
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n')) {
        const request = JSON.parse(text.slice(0, end)) as { method: string }
        text = text.slice(end + 1)
        answer(socket, request, ++nth)
      }
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => { server.listen(path, resolve) })
  servers.push(server)
  return { path, connections: () => connections }
}

const ok = (socket: Socket, result: unknown): void => { socket.write(`${JSON.stringify({ ok: true, result })}\n`) }

function session (path: string): AgentSession {
  const s = new AgentSession(path)
  sessions.push(s)
  return s
}

afterEach(async () => {
  for (const s of sessions.splice(0)) s.close()
  for (const server of servers.splice(0)) await new Promise((resolve) => { server.close(resolve) })
})

describe('agent session', () => {
  it('asks request after request over one connection, keeping it open', async () => {
    const requests: unknown[] = []
    const agent = await agentSocket((socket, request, nth) => { requests.push(request); ok(socket, nth) })
    const s = session(agent.path)
    for (let i = 1; i <= 4; i++) expect(await s.ask('peers')).toBe(i)
    expect(agent.connections()).toBe(1)
    expect(requests[0]).toEqual({ method: 'peers', keepOpen: true })
  })

  it('connects again for each request to an agent that answers once per connection', async () => {
    const agent = await agentSocket((socket, request) => { socket.end(`${JSON.stringify({ ok: true, result: request.method })}\n`) })
    const s = session(agent.path)
    expect(await s.ask('peers')).toBe('peers')
    expect(await s.ask('self')).toBe('self')
    expect(await s.ask('peers')).toBe('peers')
    expect(agent.connections()).toBe(3)
  })

  it('asks again on a new connection when the agent closes a kept one as a request arrives', async () => {
    const agent = await agentSocket((socket, _request, nth) => { if (nth === 2) socket.destroy(); else ok(socket, nth) })
    const s = session(agent.path)
    expect(await s.ask('peers')).toBe(1)
    expect(await s.ask('peers')).toBe(1)
    expect(agent.connections()).toBe(2)
  })

  it('does not ask twice when a new connection fails or the agent is slow', async () => {
    const closing = await agentSocket((socket) => { socket.destroy() })
    await expect(session(closing.path).ask('peers')).rejects.toMatchObject({ code: 'ERR_AGENT_UNREACHABLE' })
    expect(closing.connections()).toBe(1)
    const silent = await agentSocket((socket, _request, nth) => { if (nth === 1) ok(socket, nth) })
    const s = session(silent.path)
    expect(await s.ask('peers')).toBe(1)
    await expect(s.ask('peers', undefined, 100)).rejects.toMatchObject({ code: 'ERR_AGENT_UNREACHABLE', cause: expect.objectContaining({ message: 'timed out' }) })
    expect(silent.connections()).toBe(1)
  })
})
