import { createConnection } from 'node:net'
import { AgentUnreachableError, BuildmeshError } from '../common/errors.ts'
import type { ControlMethod, ControlResponse } from '../wire/control.ts'

/** Ask the local agent one question over its control socket. */
export async function askAgent (socketPath: string, method: ControlMethod, params?: unknown, timeoutMs = 5000): Promise<unknown> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = createConnection(socketPath)
    let received = ''
    socket.setEncoding('utf8')
    socket.setTimeout(timeoutMs, () => { socket.destroy(new Error('timed out')) })
    socket.once('connect', () => { socket.write(`${JSON.stringify({ method, params })}\n`) })
    socket.on('data', (chunk: string) => { received += chunk })
    socket.once('end', () => { resolve(received) })
    socket.once('error', (err) => { reject(new AgentUnreachableError(socketPath, err)) })
  })
  let response: ControlResponse
  try {
    response = JSON.parse(text) as ControlResponse
  } catch (err) {
    throw new AgentUnreachableError(socketPath, err)
  }
  if (!response.ok) throw new BuildmeshError(response.code, response.error)
  return response.result
}
