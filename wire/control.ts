/**
 * The control socket between `mesh` commands and the local agent: JSON request lines, each
 * answered by one JSON response line in order. The agent closes the connection after a
 * response unless its request asked to keep it open: the build hook asks once for every request
 * of Nix's, thousands in a run, so it keeps one connection.
 */
export type ControlMethod = 'peers' | 'self' | 'builders' | 'decide' | 'release'

export interface ControlRequest {
  method: ControlMethod
  /** Method-specific; each handler validates its own. */
  params?: unknown
  /** Keep the connection open for another request after this one's response. */
  keepOpen?: boolean
}

export type ControlResponse =
  | { ok: true, result: unknown }
  | { ok: false, code: string, error: string }

export const CONTROL_METHODS: readonly ControlMethod[] = ['peers', 'self', 'builders', 'decide', 'release']

/**
 * How many builds one `decide` answer may tell the hook to keep waiting ahead, and so how many
 * the hook reports it served with its next request: more than a round of Nix's questions holds.
 */
export const MAX_ANSWERED_AHEAD = 1024

/**
 * How a build the hook sent to a builder ended, as it tells the agent with `release`: `built`,
 * outputs back; `failed`, Nix's own hook took it and ended in error (the build failed, or the
 * connection was lost); `declined`, Nix's own hook would not take it there (the builder could not
 * be reached, or its slots were taken by another Nix).
 */
export const RELEASE_OUTCOMES = ['built', 'failed', 'declined'] as const
export type ReleaseOutcome = typeof RELEASE_OUTCOMES[number]

/** Most bytes of the run's temporary roots file one `decide` request carries (`runRoots`). */
export const MAX_ROOTS_PIECE_BYTES = 96 * 1024

/** Most derivation paths one `runRoots` piece holds. */
export const MAX_ROOTS_PER_PIECE = 1000

/**
 * Requests are small but for the hook's `decide`: the waits it answered itself, at most
 * MAX_ANSWERED_AHEAD derivation paths of up to 259 bytes (about 270 KB as JSON), and a piece of
 * the run's roots (at most MAX_ROOTS_PIECE_BYTES of the file, about 100 KB as JSON). Anything
 * bigger is not ours.
 */
export const MAX_CONTROL_REQUEST_BYTES = 512 * 1024

export function parseControlRequest (line: string): ControlRequest {
  const value: unknown = JSON.parse(line)
  if (typeof value !== 'object' || value === null) throw new TypeError('request is not an object')
  const method = (value as { method?: unknown }).method
  if (typeof method !== 'string' || !(CONTROL_METHODS as readonly string[]).includes(method)) {
    throw new TypeError(`unknown method ${JSON.stringify(method)}`)
  }
  const { params, keepOpen } = value as { params?: unknown, keepOpen?: unknown }
  return { method: method as ControlMethod, params, keepOpen: keepOpen === true }
}
