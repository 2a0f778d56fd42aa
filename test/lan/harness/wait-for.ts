import { inspect } from 'node:util'

export interface WaitForOptions {
  /** What is awaited, in words: the timeout error starts with it. */
  what: string
  /** Default 10 000. */
  timeoutMs?: number
  /** Pause between attempts. Default 100. */
  intervalMs?: number
}

type Falsy = false | 0 | '' | null | undefined

/**
 * Calls `probe` until it returns a truthy value, and returns that value. A probe that throws
 * counts as a miss. On timeout, throws an error naming `what` with the last value or error;
 * a probe that hangs past the deadline does not hold the timeout up.
 */
export async function waitFor<T> (probe: () => T | Promise<T>, options: WaitForOptions): Promise<Exclude<Awaited<T>, Falsy>> {
  const { what, timeoutMs = 10_000, intervalMs = 100 } = options
  const deadline = Date.now() + timeoutMs
  let attempts = 0
  let last: { value: unknown } | { error: unknown } | undefined
  for (;;) {
    attempts++
    const remaining = deadline - Date.now()
    try {
      const value = await withDeadline(Promise.resolve().then(probe), remaining)
      if (value) return value as Exclude<Awaited<T>, Falsy>
      last = { value }
    } catch (error) {
      if (error !== DEADLINE) last = { error }
    }
    if (Date.now() + intervalMs > deadline) break
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
  const lastSeen = last === undefined
    ? 'the first attempt was still running'
    : 'error' in last ? `last error: ${describe(last.error)}` : `last value: ${inspect(last.value, { depth: 4 })}`
  throw new Error(`timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}; ${lastSeen}`, {
    cause: last !== undefined && 'error' in last ? last.error : undefined
  })
}

const DEADLINE = Symbol('deadline')

async function withDeadline<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(DEADLINE) }, Math.max(ms, 0))
  })
  try {
    return await Promise.race([promise, expired])
  } finally {
    clearTimeout(timer)
  }
}

function describe (error: unknown): string {
  return error instanceof Error ? error.message : inspect(error)
}
