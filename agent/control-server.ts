import { chmod, mkdir, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { BuildmeshError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'
import { MAX_CONTROL_REQUEST_BYTES, parseControlRequest, type ControlMethod, type ControlRequest, type ControlResponse } from '../wire/control.ts'

export type ControlHandlers = Partial<Record<ControlMethod, (params: unknown) => unknown>>

export interface ControlServerComponents {
  log: Logger
  handlers: ControlHandlers
}

/** A one-shot `mesh` command sends its request as it connects. */
const REQUEST_TIMEOUT_MS = 5000
/** The build hook's connection waits between Nix's requests, minutes apart while builds run; closed, it reconnects. */
const SESSION_IDLE_MS = 60_000
/** The build hook has one request waiting at a time; a connection with more is not ours. */
const MAX_WAITING_REQUESTS = 16

export class AgentAlreadyRunningError extends BuildmeshError {
  constructor (path: string) {
    super('ERR_AGENT_RUNNING', `another agent already answers on ${path} (stop it, or give this one --socket PATH)`)
  }
}

async function answers (path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const probe = createConnection(path)
    probe.once('connect', () => { probe.destroy(); resolve(true) })
    probe.once('error', () => { resolve(false) })
  })
}

/** The agent's end of the control socket. */
export class ControlServer {
  private readonly components: ControlServerComponents
  private readonly path: string
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()

  constructor (components: ControlServerComponents, init: { path: string }) {
    this.components = components
    this.path = init.path
  }

  async start (): Promise<void> {
    if (this.server !== undefined) return
    await mkdir(dirname(this.path), { recursive: true, mode: 0o755 })
    if (await answers(this.path)) throw new AgentAlreadyRunningError(this.path)
    await unlink(this.path).catch(() => {})
    const server = createServer((socket) => { this.serve(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => { server.removeListener('error', reject); resolve() })
    })
    await chmod(this.path, 0o660)
    this.server = server
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server === undefined) return
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    await unlink(this.path).catch(() => {})
  }

  private serve (socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => { this.sockets.delete(socket) })
    socket.on('error', () => { socket.destroy() })
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => { socket.destroy() })
    socket.setEncoding('utf8')
    let buffered = ''
    let waiting = 0
    // Answers go out in the order the requests came, even when a later one is quicker.
    let answered = Promise.resolve()
    const respond = (response: () => Promise<ControlResponse> | ControlResponse, keepOpen: boolean): void => {
      waiting++
      answered = answered.then(async () => {
        const result = await response()
        waiting--
        this.reply(socket, result, keepOpen)
      })
    }
    const stopReading = (): void => {
      socket.removeListener('data', onData)
      buffered = ''
    }
    const onData = (chunk: string): void => {
      buffered += chunk
      for (let end = buffered.indexOf('\n'); end !== -1; end = buffered.indexOf('\n')) {
        const line = buffered.slice(0, end)
        buffered = buffered.slice(end + 1)
        if (waiting >= MAX_WAITING_REQUESTS) {
          socket.destroy()
          return
        }
        let request: ControlRequest
        try {
          request = parseControlRequest(line)
        } catch (err) {
          respond(() => this.failure(err), false)
          stopReading()
          return
        }
        respond(async () => await this.answer(request), request.keepOpen === true)
        if (request.keepOpen !== true) {
          stopReading()
          return
        }
        socket.setTimeout(SESSION_IDLE_MS)
      }
      if (buffered.length > MAX_CONTROL_REQUEST_BYTES) {
        respond(() => ({ ok: false, code: 'ERR_REQUEST', error: 'request too large' }), false)
        stopReading()
      }
    }
    socket.on('data', onData)
  }

  private async answer (request: ControlRequest): Promise<ControlResponse> {
    try {
      const handler = this.components.handlers[request.method]
      if (handler === undefined) throw new BuildmeshError('ERR_UNSUPPORTED', `this agent does not serve "${request.method}" (is it a master?)`)
      return { ok: true, result: await handler(request.params) }
    } catch (err) {
      return this.failure(err)
    }
  }

  private failure (err: unknown): ControlResponse {
    this.components.log.debug({ err: (err as Error).message }, 'control request failed')
    const code = err instanceof BuildmeshError ? err.code : 'ERR_REQUEST'
    return { ok: false, code, error: (err as Error).message }
  }

  private reply (socket: Socket, response: ControlResponse, keepOpen: boolean): void {
    if (!socket.writable) return
    const line = `${JSON.stringify(response)}\n`
    if (keepOpen) socket.write(line)
    else socket.end(line)
  }
}
