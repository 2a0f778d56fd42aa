import { spawn } from 'node:child_process'
import { HostProcess, describeStatus, tail } from './host-process.ts'
import type { ExitStatus } from './host-process.ts'

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string
  /** Return a nonzero exit instead of throwing. Default false. */
  allowFailure?: boolean
  /** The process group is killed and the run fails after this long. Default 60 000. */
  timeoutMs?: number
}

export interface RunResult extends ExitStatus {
  stdout: string
  stderr: string
  /** Stdout and stderr interleaved. */
  output: string
}

/** A command run to completion exited badly; the message quotes its output. */
export class CommandFailedError extends Error {
  readonly result: RunResult

  constructor (host: string, command: string, result: RunResult, why: string) {
    super(`${host}: \`${command}\` ${why}\n${tail(result.output, 80)}`)
    this.name = 'CommandFailedError'
    this.result = result
  }
}

/** Waits for `proc` to finish and returns its output, or throws as `options` asks. */
export async function settle (proc: HostProcess, options: RunOptions = {}): Promise<RunResult> {
  const { allowFailure = false, timeoutMs = 60_000 } = options
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    proc.kill('SIGKILL')
  }, timeoutMs)
  const status = await proc.exited
  clearTimeout(timer)
  const result: RunResult = { ...status, stdout: proc.stdout(), stderr: proc.stderr(), output: proc.output() }
  if (timedOut) throw new CommandFailedError(proc.host, proc.command, result, `timed out after ${timeoutMs} ms`)
  if (status.code !== 0 && !allowFailure) {
    throw new CommandFailedError(proc.host, proc.command, result, `failed (${describeStatus(status)})`)
  }
  return result
}

/** Runs a command on the machine itself (root namespace), e.g. `ip` or `ssh-keygen`. */
export async function runLocal (command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const child = spawn(command, args, {
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
  })
  // A command that exits without reading its input must not crash the test process.
  child.stdin?.on('error', () => {}).end(options.input)
  const proc = new HostProcess(child, { host: 'machine', command: [command, ...args].join(' '), origin: Date.now() })
  return await settle(proc, options)
}
