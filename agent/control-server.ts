import { chmod, mkdir, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { dirname } from 'node:path'
import { BuildmeshError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'
import { MAX_CONTROL_REQUEST_BYTES, parseControlRequest, type ControlMethod, type ControlResponse } from '../wire/control.ts'

export type ControlHandlers = Partial<Record<ControlMethod, (params: unknown) => unknown>>

export interface ControlServerComponents {
  log: Logger
  handlers: ControlHandlers
}

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
    socket.setTimeout(5000, () => { socket.destroy() })
    let buffered = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      buffered += chunk
      const end = buffered.indexOf('\n')
      if (end === -1) {
        if (buffered.length > MAX_CONTROL_REQUEST_BYTES) this.reply(socket, { ok: false, code: 'ERR_REQUEST', error: 'request too large' })
        return
      }
      socket.removeAllListeners('data')
      void this.answer(buffered.slice(0, end)).then((response) => { this.reply(socket, response) })
    })
  }

  private async answer (line: string): Promise<ControlResponse> {
    try {
      const request = parseControlRequest(line)
      const handler = this.components.handlers[request.method]
      if (handler === undefined) throw new BuildmeshError('ERR_UNSUPPORTED', `this agent does not serve "${request.method}" (is it a master?)`)
      return { ok: true, result: await handler(request.params) }
    } catch (err) {
      this.components.log.debug({ err: (err as Error).message }, 'control request failed')
      const code = err instanceof BuildmeshError ? err.code : 'ERR_REQUEST'
      return { ok: false, code, error: (err as Error).message }
    }
  }

  private reply (socket: Socket, response: ControlResponse): void {
    socket.end(`${JSON.stringify(response)}\n`)
  }
}
