import { pino } from 'pino'
import type { CommandResult, ProbeDeps } from '../../../../agent/probe/deps.ts'

export interface LogLine {
  level: number
  msg: string
  [key: string]: unknown
}

export interface FakeMachine {
  /** Readable files by absolute path; their parent directories exist and list them. */
  files?: Record<string, string>
  /** Further paths that exist (empty directories, devices). */
  paths?: string[]
  /** Results by `command arg arg...`; a command with no entry is not installed. */
  commands?: Record<string, CommandResult>
  statfs?: Record<string, { bavail: number, bsize: number }>
  loadavg?: number[]
  cores?: number
  hostname?: string
  arch?: string
  platform?: string
  userName?: string
  cpuSpeed?: number
}

export interface Fake {
  deps: ProbeDeps
  logs: LogLine[]
  /** Every command run, as `command arg arg...`. */
  commands: string[]
  /** Every file read. */
  reads: string[]
}

export function fakeMachine (machine: FakeMachine = {}): Fake {
  const files = machine.files ?? {}
  const logs: LogLine[] = []
  const commands: string[] = []
  const reads: string[] = []
  const log = pino({ level: 'debug' }, { write: (line: string) => { logs.push(JSON.parse(line) as LogLine) } })
  const exists = (path: string): boolean =>
    path in files || (machine.paths ?? []).includes(path) || Object.keys(files).some((file) => file.startsWith(`${path}/`))
  const deps: ProbeDeps = {
    readFile: async (path) => {
      reads.push(path)
      const text = files[path]
      if (text === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' })
      return text
    },
    readdir: async (path) => {
      if (!exists(path)) throw Object.assign(new Error(`ENOENT: no such directory '${path}'`), { code: 'ENOENT' })
      const children = Object.keys(files)
        .filter((file) => file.startsWith(`${path}/`))
        .map((file) => file.slice(path.length + 1).split('/')[0] ?? '')
      return [...new Set(children)]
    },
    // Links are files whose text is the target: a fake /proc's ns/net entries.
    readlink: async (path) => {
      const target = files[path]
      if (target === undefined) throw Object.assign(new Error(`ENOENT: no such link '${path}'`), { code: 'ENOENT' })
      return target
    },
    exists: async (path) => exists(path),
    runCommand: async (command, args) => {
      const line = [command, ...args].join(' ')
      commands.push(line)
      return machine.commands?.[line] ?? null
    },
    statfs: async (path) => {
      const stats = machine.statfs?.[path]
      if (stats === undefined) throw new Error(`ENOENT: statfs '${path}'`)
      return stats
    },
    loadavg: () => machine.loadavg ?? [0, 0, 0],
    cores: () => machine.cores ?? 4,
    hostname: () => machine.hostname ?? 'builder',
    arch: machine.arch ?? 'x64',
    platform: machine.platform ?? 'linux',
    userName: () => machine.userName ?? 'nix-builder',
    cpuSpeed: () => machine.cpuSpeed ?? 1.5,
    log
  }
  return { deps, logs, commands, reads }
}

export const warnings = (logs: LogLine[]): string[] => logs.filter((line) => line.level === 40).map((line) => line.msg)

const NIX = '--extra-experimental-features nix-command'
export const NIX_CONFIG_SHOW = `nix ${NIX} config show --json`
export const NIX_SHOW_CONFIG = `nix ${NIX} show-config --json`

/** The output of `nix show-config --json` in the shape Nix 2.8 prints (descriptions left out). */
export function nixShowConfigJson (settings: { system: string, extraPlatforms?: string[], systemFeatures?: string[] }): string {
  const setting = (value: unknown): unknown => ({ aliases: [], defaultValue: value, description: '…', documentDefault: true, value })
  return JSON.stringify({
    system: setting(settings.system),
    'extra-platforms': setting(settings.extraPlatforms ?? []),
    'system-features': setting(settings.systemFeatures ?? []),
    'experimental-features': setting([3])
  })
}

/** What Nix 2.8 answers: no `config` command, a working `show-config`. */
export function nix28 (settings: Parameters<typeof nixShowConfigJson>[0]): Record<string, CommandResult> {
  return {
    [NIX_CONFIG_SHOW]: { code: 1, stdout: '', stderr: "error: 'config' is not a recognised command\nTry 'nix --help' for more information.\n" },
    [NIX_SHOW_CONFIG]: { code: 0, stdout: nixShowConfigJson(settings), stderr: '' }
  }
}

/** A well-formed OpenSSH public key line of the given type. */
export function publicKey (type: string, seed = 1, comment = ''): string {
  const sshString = (bytes: Buffer): Buffer => {
    const length = Buffer.alloc(4)
    length.writeUInt32BE(bytes.length)
    return Buffer.concat([length, bytes])
  }
  const blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.alloc(32, seed))])
  return `${type} ${blob.toString('base64')}${comment === '' ? '' : ` ${comment}`}`
}

// Entries as qemu-user-binfmt registers them, in the form the kernel prints.
export const QEMU_MASK = 'ffffffffffffff00fffffffffffffffffeffffff'
export const X86_MASK = 'fffffffffffefe00fffffffffffffffffeffffff'
export const qemuEntry = (interpreter: string, magic: string, mask = QEMU_MASK, state = 'enabled'): string =>
  `${state}\ninterpreter ${interpreter}\nflags: POCF\noffset 0\nmagic ${magic}\nmask ${mask}\n`

export const AARCH64 = qemuEntry('/usr/libexec/qemu-binfmt/aarch64-binfmt-P', '7f454c460201010000000000000000000200b700')
export const RISCV64 = qemuEntry('/usr/bin/qemu-riscv64-static', '7f454c460201010000000000000000000200f300')
export const ARM = qemuEntry('/usr/bin/qemu-arm', '7f454c4601010100000000000000000002002800')
