import { spawn } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { HostProcess } from './host-process.ts'
import { settle } from './run.ts'
import type { RunOptions, RunResult } from './run.ts'

export interface SpawnOptions {
  /** Merged over the host's default environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>
  /** Default: the test process's working directory (the repository root under npx). */
  cwd?: string
  /** Written to stdin, which is then closed; without it stdin is /dev/null. */
  input?: string
}

/** In-host directories that are the host's own, and where they live on the machine. */
export const PRIVATE_MOUNTS = [['/nix', 'nix'], ['/etc/nix', 'etc-nix'], ['/run', 'run']] as const

// The host's /etc/nix must be the one Nix reads, and the per-host HOME must decide the rest.
const DROPPED_ENV = [
  'NIX_REMOTE', 'NIX_CONF_DIR', 'NIX_USER_CONF_FILES', 'NIX_STORE_DIR', 'NIX_STATE_DIR',
  'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME', 'XDG_STATE_HOME', 'XDG_RUNTIME_DIR'
]

/**
 * setpriv's arguments before every command started in a host. setpriv and nsenter exec in turn
 * (nsenter without --pid does not fork), so the pid we hold is the command's; and the command
 * dies with the test process even if it never got into the host's namespaces, where teardown
 * cannot see it.
 */
export const WITH_PARENT = ['--pdeathsig', 'SIGKILL', '--'] as const

export interface HostInit {
  name: string
  address: string
  netns: string
  interface: string
  dir: string
  /** Owns the host's hostname and mounts; processes join its namespaces. */
  holder: HostProcess
  /** When the LAN was created: output timestamps count from here. */
  origin: number
}

/**
 * One machine of the LAN: its own network namespace, hostname, /nix, /etc/nix, /run and HOME.
 * Processes enter the namespaces of a long-lived holder process that owns the hostname and mounts.
 */
export class Host {
  readonly name: string
  /** IPv4 address on the LAN. */
  readonly address: string
  readonly netns: string
  /** The host's LAN interface (inside the host). */
  readonly interface: string
  /** The host's private directory on the machine; see README for its layout. */
  readonly dir: string
  /** The long-lived process that owns the host's hostname and mounts; processes enter its namespaces. */
  readonly holder: HostProcess
  private readonly origin: number
  private readonly netnsId: string
  private readonly started: HostProcess[] = []

  constructor (init: HostInit) {
    this.name = init.name
    this.address = init.address
    this.netns = init.netns
    this.interface = init.interface
    this.dir = init.dir
    this.holder = init.holder
    this.origin = init.origin
    this.netnsId = netnsId(init.holder.pid)
  }

  /** HOME inside the host (also the directory Nix keeps its user caches in). */
  get home (): string {
    return join(this.dir, 'home')
  }

  /** Every process started in this host, in start order, finished ones included. */
  get processes (): readonly HostProcess[] {
    return this.started
  }

  /** Starts `command` inside the host and returns at once. */
  spawn (command: string, args: readonly string[] = [], options: SpawnOptions = {}): HostProcess {
    // Once the holder is gone its pid may belong to anyone: entering it could mean the machine's network.
    if (!this.holder.running) throw new Error(`LAN host ${this.name} is gone (its LAN was closed)`)
    const cwd = options.cwd ?? process.cwd()
    const child = spawn('setpriv', [
      ...WITH_PARENT, 'nsenter', `--target=${this.holder.pid}`, '--net', '--uts', '--mount', `--wd=${cwd}`, '--', command, ...args
    ], {
      env: this.environment(options.env),
      detached: true,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe']
    })
    // A command that exits without reading its input must not crash the test process.
    child.stdin?.on('error', () => {}).end(options.input)
    const pid = child.pid ?? -1
    const proc = new HostProcess(child, {
      host: this.name,
      command: [command, ...args].join(' '),
      origin: this.origin,
      isInside: () => netnsId(pid) === this.netnsId
    })
    this.started.push(proc)
    return proc
  }

  /** Runs `command` inside the host to completion; throws, quoting its output, if it fails. */
  async run (command: string, args: readonly string[] = [], options: SpawnOptions & RunOptions = {}): Promise<RunResult> {
    return await settle(this.spawn(command, args, options), options)
  }

  /** `run('sh', ['-c', script])`. */
  async sh (script: string, options: SpawnOptions & RunOptions = {}): Promise<RunResult> {
    return await this.run('sh', ['-c', script], options)
  }

  /**
   * Where a path seen inside the host (under /nix, /etc/nix or /run) is on the machine,
   * e.g. to read a store path that `nix-build` printed. Other paths are shared: returned as is.
   */
  pathOnMachine (inHost: string): string {
    for (const [mountPoint, sub] of PRIVATE_MOUNTS) {
      if (inHost === mountPoint || inHost.startsWith(`${mountPoint}/`)) {
        return join(this.dir, sub, inHost.slice(mountPoint.length))
      }
    }
    return inHost
  }

  private environment (overrides: SpawnOptions['env'] = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: this.home }
    for (const key of DROPPED_ENV) delete env[key]
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) delete env[key]
      else env[key] = value
    }
    return env
  }
}

/** Which network namespace a process is in ('' if it is gone). */
function netnsId (pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`)
  } catch {
    return ''
  }
}
