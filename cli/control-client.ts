import { createConnection, type Socket } from 'node:net'
import { AgentUnreachableError, BuildmeshError } from '../common/errors.ts'
import type { ControlMethod, ControlResponse } from '../wire/control.ts'

interface Waiter {
  resolve: (line: string) => void
  reject: (err: Error) => void
}

/** The connection ended before the answer came; `reused` if it had answered before. */
class ConnectionLost extends Error {
  readonly reused: boolean

  constructor (reused: boolean, cause?: unknown) {
    super(cause instanceof Error ? cause.message : 'the agent closed the connection', { cause })
    this.reused = reused
  }
}

/**
 * One connection to the local agent for many requests, one at a time. The build hook asks once
 * for every request of Nix's, and Nix waits for each answer: a new connection each time costs
 * both processes a connect and an accept. An agent closes a connection idle for long, or one
 * that older agents answer only once; the next request then opens a new one.
 */
export class AgentSession {
  private readonly socketPath: string
  private socket: Socket | undefined
  private answers = 0
  private received = ''
  private waiter: Waiter | undefined

  constructor (socketPath: string) {
    this.socketPath = socketPath
  }

  async ask (method: ControlMethod, params?: unknown, timeoutMs = 5000): Promise<unknown> {
    let line: string
    try {
      line = await this.exchange(method, params, timeoutMs)
    } catch (err) {
      // The agent may close an idle connection just as a request goes out: one retry, on a new one.
      if (!(err instanceof ConnectionLost && err.reused)) throw this.unreachable(err)
      try {
        line = await this.exchange(method, params, timeoutMs)
      } catch (again) {
        throw this.unreachable(again)
      }
    }
    let response: ControlResponse
    try {
      response = JSON.parse(line) as ControlResponse
    } catch (err) {
      throw this.unreachable(err)
    }
    if (!response.ok) throw new BuildmeshError(response.code, response.error)
    return response.result
  }

  close (): void {
    this.socket?.end()
    this.socket = undefined
  }

  private async exchange (method: ControlMethod, params: unknown, timeoutMs: number): Promise<string> {
    if (this.waiter !== undefined) throw new Error('one request at a time')
    const socket = this.socket ?? this.connect()
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { this.drop(new Error('timed out')) }, timeoutMs)
      this.waiter = {
        resolve: (line) => { clearTimeout(timer); resolve(line) },
        reject: (err) => { clearTimeout(timer); reject(err) }
      }
      socket.write(`${JSON.stringify({ method, params, keepOpen: true })}\n`)
    })
  }

  private connect (): Socket {
    const socket = createConnection(this.socketPath)
    this.socket = socket
    this.answers = 0
    this.received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      this.received += chunk
      const end = this.received.indexOf('\n')
      if (end === -1) return
      const line = this.received.slice(0, end)
      this.received = this.received.slice(end + 1)
      this.answers++
      const waiter = this.waiter
      this.waiter = undefined
      waiter?.resolve(line)
    })
    socket.on('error', (err) => { if (this.socket === socket) this.drop(new ConnectionLost(this.answers > 0, err)) })
    socket.on('close', () => { if (this.socket === socket) this.drop(new ConnectionLost(this.answers > 0)) })
    return socket
  }

  /** Forgets the connection, failing the request that waits on it. */
  private drop (failure: Error): void {
    this.socket?.destroy()
    this.socket = undefined
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.reject(failure)
  }

  private unreachable (err: unknown): AgentUnreachableError {
    return new AgentUnreachableError(this.socketPath, err instanceof ConnectionLost ? err.cause ?? err : err)
  }
}

/** Ask the local agent one question over its control socket. */
export async function askAgent (socketPath: string, method: ControlMethod, params?: unknown, timeoutMs = 5000): Promise<unknown> {
  const session = new AgentSession(socketPath)
  try {
    return await session.ask(method, params, timeoutMs)
  } finally {
    session.close()
  }
}
