import type { ChildProcess } from 'node:child_process'

export interface ExitStatus {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface OutputChunk {
  /** Milliseconds since the LAN was created, so logs of different hosts line up. */
  at: number
  stream: 'stdout' | 'stderr'
  text: string
}

export interface HostProcessInit {
  host: string
  /** For messages and logs. */
  command: string
  /** When the LAN was created, in ms since the epoch. */
  origin: number
  /** Whether the process has entered its host's namespaces yet; default: always. */
  isInside?: () => boolean
}

export interface WaitForOutputOptions {
  timeoutMs?: number
  stream?: 'stdout' | 'stderr' | 'both'
}

// A chatty agent left running for minutes must not grow without bound; the tail is what matters.
const MAX_KEPT_BYTES = 4 * 1024 * 1024
// After exit, a grandchild may still hold the pipes open; stop waiting for their end after this.
const DRAIN_GRACE_MS = 500

/**
 * A process running inside one LAN host, started in its own process group so that signals
 * reach everything it started. Output is kept in memory, time-stamped, for assertions and for
 * the log dump a failing test prints.
 */
export class HostProcess {
  readonly host: string
  readonly command: string
  readonly pid: number
  /** Resolves once the process has exited and its output has been read. Never rejects. */
  readonly exited: Promise<ExitStatus>
  private status: ExitStatus | null = null
  private drained = false
  private readonly chunks: OutputChunk[] = []
  // Kept joined as well, so a waiter checking every chunk does not rejoin the whole output.
  private readonly texts = { both: '', stdout: '', stderr: '' }
  private keptBytes = 0
  private droppedBytes = 0
  private readonly listeners = new Set<() => void>()
  private readonly isInside: () => boolean
  private inside = false
  private readonly deferred: NodeJS.Signals[] = []
  private deferTimer: NodeJS.Timeout | undefined

  constructor (child: ChildProcess, init: HostProcessInit) {
    const { origin } = init
    this.host = init.host
    this.command = init.command
    this.pid = child.pid ?? -1
    this.isInside = init.isInside ?? (() => true)
    // Decoding on the stream keeps a character split across two reads whole.
    child.stdout?.setEncoding('utf8').on('data', (text: string) => { this.append({ at: Date.now() - origin, stream: 'stdout', text }) })
    child.stderr?.setEncoding('utf8').on('data', (text: string) => { this.append({ at: Date.now() - origin, stream: 'stderr', text }) })
    this.exited = new Promise((resolve) => {
      const finish = (status: ExitStatus): void => {
        this.status ??= status
        if (this.drained) return
        this.drained = true
        this.notify()
        resolve(this.status)
      }
      child.once('close', (code, signal) => { finish({ code, signal }) })
      child.once('exit', (code, signal) => {
        // Known at once (the pid may be reused from now on); output may still be arriving.
        this.status = { code, signal }
        setTimeout(() => { finish({ code, signal }) }, DRAIN_GRACE_MS).unref()
      })
      child.once('error', (error) => {
        this.append({ at: Date.now() - origin, stream: 'stderr', text: `[harness] ${error.message}\n` })
        finish({ code: null, signal: null })
      })
    })
  }

  /** Null while the process runs; set as soon as it has exited, possibly before `exited` resolves. */
  get exitStatus (): ExitStatus | null {
    return this.status
  }

  get running (): boolean {
    return this.status === null
  }

  /**
   * Signals the whole process group; a process that is gone already is not an error.
   * Until the process has entered its host, signals other than SIGKILL wait (a few ms): one
   * stopped before entering would sit outside every namespace, out of teardown's sight.
   */
  kill (signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.pid <= 0 || this.status !== null) return
    if (signal === 'SIGKILL') {
      this.deferred.length = 0
      this.signalGroup(signal)
    } else if (this.deferred.length > 0 || !this.hasEntered()) {
      this.deferred.push(signal)
      this.deferTimer ??= setInterval(() => { this.flushDeferred() }, 2)
    } else {
      this.signalGroup(signal)
    }
  }

  /** SIGTERM, then SIGKILL if the process is still there after `graceMs`. */
  async stop (graceMs = 3000): Promise<ExitStatus> {
    this.kill('SIGTERM')
    const timer = setTimeout(() => { this.kill('SIGKILL') }, graceMs)
    try {
      return await this.exited
    } finally {
      clearTimeout(timer)
    }
  }

  /** Stdout and stderr, interleaved in arrival order. */
  output (): string {
    return this.text('both')
  }

  stdout (): string {
    return this.text('stdout')
  }

  stderr (): string {
    return this.text('stderr')
  }

  /** Everything kept so far, with arrival times; `dropped` counts bytes discarded from the front. */
  chunksSoFar (): { chunks: readonly OutputChunk[], dropped: number } {
    return { chunks: this.chunks, dropped: this.droppedBytes }
  }

  /**
   * Resolves with the first match of `pattern` in the output (already there or yet to come);
   * rejects, quoting the output, on timeout or if the process exits without printing it.
   */
  async waitForOutput (pattern: RegExp | string, options: WaitForOutputOptions = {}): Promise<RegExpMatchArray> {
    const { timeoutMs = 10_000, stream = 'both' } = options
    const regex = typeof pattern === 'string' ? new RegExp(escapeRegExp(pattern)) : pattern
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const match = this.text(stream).match(regex)
        if (match !== null) {
          cleanup()
          resolve(match)
        } else if (this.drained && this.status !== null) {
          cleanup()
          reject(this.failure(`exited (${describeStatus(this.status)}) without printing ${String(regex)}`))
        }
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(this.failure(`did not print ${String(regex)} within ${timeoutMs} ms`))
      }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        this.listeners.delete(check)
      }
      this.listeners.add(check)
      check()
    })
  }

  private hasEntered (): boolean {
    this.inside ||= this.isInside()
    return this.inside
  }

  private flushDeferred (): void {
    if (this.status !== null || this.deferred.length === 0) {
      this.deferred.length = 0
    } else if (this.hasEntered()) {
      for (const signal of this.deferred.splice(0)) this.signalGroup(signal)
    } else {
      return
    }
    clearInterval(this.deferTimer)
    this.deferTimer = undefined
  }

  private signalGroup (signal: NodeJS.Signals): void {
    if (this.status !== null) return
    try {
      process.kill(-this.pid, signal)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
    }
  }

  private failure (what: string): Error {
    return new Error(`${this.host}: \`${this.command}\` ${what}; output so far:\n${tail(this.output(), 60)}`)
  }

  private text (stream: 'stdout' | 'stderr' | 'both'): string {
    return this.texts[stream]
  }

  private append (chunk: OutputChunk): void {
    this.chunks.push(chunk)
    this.texts.both += chunk.text
    this.texts[chunk.stream] += chunk.text
    this.keptBytes += chunk.text.length
    while (this.keptBytes > MAX_KEPT_BYTES && this.chunks.length > 1) {
      const dropped = this.chunks.shift()
      if (dropped === undefined) break
      this.texts.both = this.texts.both.slice(dropped.text.length)
      this.texts[dropped.stream] = this.texts[dropped.stream].slice(dropped.text.length)
      this.keptBytes -= dropped.text.length
      this.droppedBytes += dropped.text.length
    }
    this.notify()
  }

  private notify (): void {
    for (const listener of [...this.listeners]) listener()
  }
}

export function describeStatus (status: ExitStatus): string {
  return status.signal !== null ? `signal ${status.signal}` : `code ${String(status.code)}`
}

/** The last `lines` lines of `text`. */
export function tail (text: string, lines: number): string {
  const all = text.trimEnd().split('\n')
  if (all.length <= lines) return all.join('\n')
  return [`[... ${all.length - lines} earlier lines]`, ...all.slice(-lines)].join('\n')
}

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
