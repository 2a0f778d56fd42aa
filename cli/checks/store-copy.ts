import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { SshTarget } from './ssh-probe.ts'

export interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
  /** Why the command could not start (ENOENT: not on PATH), or null. */
  spawnError: NodeJS.ErrnoException | null
}

export type RunCommand = (command: string, args: string[], env: NodeJS.ProcessEnv, signal: AbortSignal) => Promise<CommandResult>

/** Which leg of the round trip failed, and what Nix said. */
export interface CopyFacts {
  /** The text path made for the check, or null when this master could not make one. */
  path: string | null
  /** `add`: into this master's store; `to`: to the builder; `from`: back from it. */
  failedAt: 'add' | 'to' | 'from' | null
  /** Nix's error lines, or why the command did not run. */
  error: string | null
  /** The command was not on this master's PATH. */
  missingCommand: boolean
}

const MAX_OUTPUT = 16 * 1024

export const runCommand: RunCommand = async (command, args, env, signal) => {
  return await new Promise((resolve) => {
    const child = spawn(command, args, { env, signal, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { if (stdout.length < MAX_OUTPUT) stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { if (stderr.length < MAX_OUTPUT) stderr += chunk })
    let spawnError: NodeJS.ErrnoException | null = null
    child.once('error', (err) => { spawnError = err })
    child.once('close', (code) => { resolve({ code, stdout, stderr, spawnError }) })
  })
}

/** What Nix said went wrong: its `error:` lines without colours, else its last line. */
export function nixError (stderr: string): string {
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '')
  const from = lines.findIndex((l) => l.startsWith('error:'))
  return (from === -1 ? lines.slice(-1) : lines.slice(from)).join(' ').slice(0, 400)
}

/**
 * How `ssh` must log in for Nix: the master's key only, the pinned host key only, and never a
 * prompt. The port goes here because Nix before 2.31 reads none from an ssh-ng:// URI.
 */
export function sshOptions (target: SshTarget, keyPath: string, knownHostsFile: string): string {
  return [
    ...(target.port === 22 ? [] : ['-p', String(target.port)]),
    '-i', keyPath, '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=10'
  ].join(' ')
}

export function knownHostsLine (target: SshTarget & { hostKey: string }): string {
  return `${target.port === 22 ? target.host : `[${target.host}]:${target.port}`} ${target.hostKey}`
}

export interface CopyOptions {
  keyPath: string
  /** The environment Nix runs in: the caller's, so the master's own store is the one it uses. */
  env: NodeJS.ProcessEnv
  run?: RunCommand
}

type Added = { path: string } | { failure: CopyFacts }

function failedFacts (failedAt: CopyFacts['failedAt'], result: CommandResult, path: string | null, signal: AbortSignal): CopyFacts {
  return {
    path,
    failedAt,
    error: signal.aborted ? 'no answer in time' : result.spawnError !== null ? result.spawnError.message : nixError(result.stderr),
    missingCommand: result.spawnError?.code === 'ENOENT'
  }
}

async function addCheckFile (signal: AbortSignal, options: CopyOptions): Promise<Added> {
  const dir = await mkdtemp(join(tmpdir(), 'buildmesh-test-'))
  try {
    const file = join(dir, 'buildmesh-check')
    await writeFile(file, `buildmesh check at ${new Date().toISOString()} ${randomUUID()}\n`)
    const added = await (options.run ?? runCommand)('nix-store', ['--add', file], options.env, signal)
    const path = added.stdout.trim()
    return added.code === 0 && path.startsWith('/') ? { path } : { failure: failedFacts('add', added, null, signal) }
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {})
  }
}

/**
 * The import and export `guix offload test` does, with the commands Nix's build hook relies on:
 * a fresh text file goes into this master's store (`nix-store --add`), then to each builder
 * (`nix copy --to ssh-ng://`), then back into a throwaway store (`nix copy --from`), so the
 * master's own store gains only that one small garbage-collectable path. The file is added once
 * for all builders: Nix does not make a store that was never used safely from several processes
 * at once, and one path serves every builder, none of which had it before.
 */
export function copyRoundTrips (options: CopyOptions): (target: SshTarget & { hostKey: string }, signal: AbortSignal) => Promise<CopyFacts> {
  const run = options.run ?? runCommand
  let added: Promise<Added> | null = null
  return async (target, signal) => {
    added ??= addCheckFile(signal, options)
    const file = await added
    if ('failure' in file) return file.failure
    const { path } = file
    if (/\s/.test(options.keyPath)) {
      return { path, failedAt: 'to', error: `the key path ${options.keyPath} has a space, which NIX_SSHOPTS cannot carry`, missingCommand: false }
    }
    const dir = await mkdtemp(join(tmpdir(), 'buildmesh-test-'))
    try {
      const knownHosts = join(dir, 'known_hosts')
      await writeFile(knownHosts, `${knownHostsLine(target)}\n`)
      const env = { ...options.env, NIX_SSHOPTS: sshOptions(target, options.keyPath, knownHosts) }
      const store = `ssh-ng://${target.user}@${target.host}`
      const nix = ['--extra-experimental-features', 'nix-command', 'copy']
      const there = await run('nix', [...nix, '--to', store, path], env, signal)
      if (there.code !== 0) return failedFacts('to', there, path, signal)
      const back = await run('nix', [...nix, '--from', store, '--to', join(dir, 'store'), path], env, signal)
      if (back.code !== 0) return failedFacts('from', back, path, signal)
      return { path, failedAt: null, error: null, missingCommand: false }
    } finally {
      // The throwaway store is the check's own: losing it to a failed removal harms nothing.
      await rm(dir, { recursive: true, force: true }).catch(() => {})
    }
  }
}
