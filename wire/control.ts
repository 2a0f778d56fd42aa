/**
 * The control socket between `mesh` commands and the local agent: one JSON request line, one
 * JSON response line, then the agent closes the connection.
 */
export type ControlMethod = 'peers' | 'self' | 'builders' | 'decide' | 'release'

export interface ControlRequest {
  method: ControlMethod
  /** Method-specific; each handler validates its own. */
  params?: unknown
}

export type ControlResponse =
  | { ok: true, result: unknown }
  | { ok: false, code: string, error: string }

export const CONTROL_METHODS: readonly ControlMethod[] = ['peers', 'self', 'builders', 'decide', 'release']

/** A request is tiny; anything bigger is not from our CLI. */
export const MAX_CONTROL_REQUEST_BYTES = 16_384

export function parseControlRequest (line: string): ControlRequest {
  const value: unknown = JSON.parse(line)
  if (typeof value !== 'object' || value === null) throw new TypeError('request is not an object')
  const method = (value as { method?: unknown }).method
  if (typeof method !== 'string' || !(CONTROL_METHODS as readonly string[]).includes(method)) {
    throw new TypeError(`unknown method ${JSON.stringify(method)}`)
  }
  return { method: method as ControlMethod, params: (value as { params?: unknown }).params }
}
