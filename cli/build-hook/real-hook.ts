import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { once } from 'node:events'
import { constants } from 'node:os'
import { basename } from 'node:path'
import type { Writable } from 'node:stream'
import { encodeSettings, encodeTry, withSetting, type Setting, type TryRequest } from './messages.ts'

/**
 * Nix's own build hook, run the way Nix runs it. Nix 2.8's `build-hook` is one path, executed
 * with argv[0] its base name and argv[1] Nix's verbosity (hook-instance.cc); `nix` itself runs
 * that hook when its argv[0] is `build-remote` (RegisterLegacyCommand), which is also what
 * Nix 2.8's default, `LIBEXECDIR/nix/build-remote`, links to.
 */
export interface RealHookCommand {
  file: string
  argv0: string
}

export function realHookCommand (given: string | undefined): RealHookCommand {
  if (given === undefined) return { file: 'nix', argv0: 'build-remote' }
  const name = basename(given)
  return { file: given, argv0: name === 'nix' ? 'build-remote' : name }
}

export interface RealHookInit {
  command: RealHookCommand
  /** Nix's verbosity, handed on as the hook's argument. */
  verbosity: string
  /**
   * Our descriptors the hook gets under the same numbers: Nix gives its hook the build log pipe
   * as fd 4 (ssh's stderr goes there) and that pipe's read side as fd 5 (read back when a
   * connection fails).
   */
  passFds: number[]
  env: NodeJS.ProcessEnv
}

/** A line this long without a newline is no answer (they are a few bytes): it is passed on as is. */
const MAX_LINE_BYTES = 1024 * 1024

export interface HookAnswer {
  /** The word after `# `: accept, decline, postpone or decline-permanently. */
  answer: string
  /** Output after the answer line, not yet passed on. */
  rest: Buffer
}

export type StderrMode = 'watch' | 'inherit'

/** The exit code a shell would report for the hook's end. */
export const exitCode = ({ code, signal }: { code: number | null, signal: NodeJS.Signals | null }): number =>
  code ?? 128 + (signal === null ? 0 : constants.signals[signal])

/** One running real hook. In `watch` mode its stderr comes to us, to find its answer. */
export class RealHook {
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  private readonly child: ChildProcess
  private readonly stderr: AsyncIterator<Buffer> | undefined

  private constructor (child: ChildProcess) {
    this.child = child
    this.exited = new Promise((resolve) => { child.once('close', (code, signal) => { resolve({ code, signal }) }) })
    // A hook that exits before reading all we send must not crash us with EPIPE.
    child.stdin?.on('error', () => {})
    this.stderr = child.stderr?.[Symbol.asyncIterator]()
  }

  /** Resolves once the process runs; rejects if it cannot be started. */
  static async start (init: RealHookInit, mode: StderrMode): Promise<RealHook> {
    const extra: StdioOptions = []
    for (let fd = 3; fd <= Math.max(2, ...init.passFds); fd++) extra.push(init.passFds.includes(fd) ? fd : 'ignore')
    const child = spawn(init.command.file, [init.verbosity], {
      argv0: init.command.argv0,
      env: init.env,
      stdio: ['pipe', 'inherit', mode === 'watch' ? 'pipe' : 'inherit', ...extra]
    })
    await once(child, 'spawn')
    // Started: a later error (a failed kill) changes nothing the exit status does not tell.
    child.on('error', () => {})
    return new RealHook(child)
  }

  async write (bytes: Buffer): Promise<void> {
    const stdin = this.child.stdin
    if (stdin === null || stdin.destroyed || bytes.length === 0) return
    if (!stdin.write(bytes)) await Promise.race([once(stdin, 'drain'), this.exited])
  }

  /**
   * Hands the hook Nix's settings with `builders` set to `builders` (the machine the agent chose,
   * or the machines outside the mesh), and Nix's request; its answer, every line before it passed
   * on to `output`.
   */
  async offer (settings: Setting[], builders: string, request: TryRequest, output: Writable): Promise<HookAnswer | null> {
    void this.write(Buffer.concat([encodeSettings(withSetting(settings, 'builders', builders)), encodeTry(request)]))
    return await this.nextAnswer(output)
  }

  /** Nix's next request to a hook that answered the last with postpone or decline, as Nix reuses its hook; its answer. */
  async ask (request: TryRequest, output: Writable): Promise<HookAnswer | null> {
    void this.write(encodeTry(request))
    return await this.nextAnswer(output)
  }

  /** Writes all of the hook's input, then closes its stdin, as Nix closes ours once it has written. */
  async send (bytes: Buffer): Promise<void> {
    await this.write(bytes)
    this.closeInput()
  }

  closeInput (): void {
    this.child.stdin?.end()
  }

  /** Copies the rest of Nix's input into the hook, then closes the hook's stdin as Nix closes ours. */
  async pipeIn (rest: AsyncIterator<Buffer | string>): Promise<void> {
    try {
      for (;;) {
        const next = await Promise.race([rest.next(), this.exited.then(() => null)])
        if (next === null || next.done === true) break
        await this.write(typeof next.value === 'string' ? Buffer.from(next.value) : next.value)
      }
    } catch {
      // Our stdin broke: to the hook that is the same as Nix closing it.
    }
    this.closeInput()
  }

  /**
   * Reads the hook's stderr up to its answer, passing every other line on to `output` for Nix
   * to show. Null if the hook ended without answering.
   */
  async nextAnswer (output: Writable): Promise<HookAnswer | null> {
    let pending = Buffer.alloc(0)
    for (;;) {
      const next = await this.stderr?.next()
      if (next === undefined || next.done === true) {
        if (pending.length > 0) output.write(pending)
        return null
      }
      pending = Buffer.concat([pending, next.value])
      let newline: number
      while ((newline = pending.indexOf(10)) !== -1) {
        const line = pending.subarray(0, newline + 1)
        pending = pending.subarray(newline + 1)
        if (line.subarray(0, 2).toString() === '# ') return { answer: line.subarray(2, -1).toString(), rest: pending }
        output.write(line)
      }
      if (pending.length > MAX_LINE_BYTES) {
        output.write(pending)
        pending = Buffer.alloc(0)
      }
    }
  }

  /**
   * The hook's output after its next line, which is not passed on: after `# accept` the store
   * it builds on, which Nix reads once, from the first hook it accepted a build from.
   */
  async skipLine (rest: Buffer): Promise<Buffer> {
    let pending = rest
    while (pending.indexOf(10) === -1) {
      const next = await this.stderr?.next()
      if (next === undefined || next.done === true) return Buffer.alloc(0)
      pending = Buffer.concat([pending, next.value])
    }
    return pending.subarray(pending.indexOf(10) + 1)
  }

  /** Passes the hook's stderr on, byte for byte, until it closes. */
  async pipeErr (output: Writable, rest: Buffer): Promise<void> {
    if (rest.length > 0) output.write(rest)
    for (;;) {
      const next = await this.stderr?.next()
      if (next === undefined || next.done === true) return
      if (!output.write(next.value)) await once(output, 'drain')
    }
  }

  /** Ends a hook we no longer need: EOF on stdin makes Nix's hook exit 0; a stuck one is killed. */
  async stop (graceMs = 2000): Promise<void> {
    this.child.stdin?.end()
    await this.stderr?.return?.()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(timer)
  }
}

/**
 * SSH options for Nix's own hook. OpenSSH sets no limits by default: a builder that is unplugged
 * during a quiet build leaves Nix waiting on the connection until TCP gives up, two hours on, and
 * an sshd that takes the connection and never answers (overloaded, or stuck) leaves it waiting
 * for good. With these ssh ends the connection once the builder has not answered for 15 s, and
 * gives up on one that has not connected and finished its key exchange within 10 s, plenty on a
 * LAN. Options the user set in NIX_SSHOPTS come first, and for ssh the first value given wins.
 */
export function withSshTimeouts (env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const timeouts = '-o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o ConnectTimeout=10'
  const given = env.NIX_SSHOPTS?.trim() ?? ''
  return { ...env, NIX_SSHOPTS: given === '' ? timeouts : `${given} ${timeouts}` }
}
