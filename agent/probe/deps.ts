import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { access, readdir, readFile, readlink, statfs } from 'node:fs/promises'
import { availableParallelism, hostname, loadavg, userInfo } from 'node:os'
import type { Logger } from '../../common/logger.ts'
import { measureCpuSpeed } from './cpu-speed.ts'

export interface CommandResult {
  /** Exit code, or null when the process was killed (for instance by the timeout). */
  code: number | null
  stdout: string
  stderr: string
}

/** What the probes read from the machine. Tests pass fakes; `systemProbeDeps` is the real thing. */
export interface ProbeSystem {
  readFile: (path: string) => Promise<string>
  readdir: (path: string) => Promise<string[]>
  readlink: (path: string) => Promise<string>
  exists: (path: string) => Promise<boolean>
  /** Resolves null when the command is not installed. */
  runCommand: (command: string, args: string[], options: { timeoutMs: number }) => Promise<CommandResult | null>
  statfs: (path: string) => Promise<{ bavail: number, bsize: number }>
  loadavg: () => number[]
  cores: () => number
  hostname: () => string
  /** As `process.arch` and `process.platform`. */
  arch: string
  platform: string
  userName: () => string
  /** This host's relative speed, measured (see cpu-speed.ts). */
  cpuSpeed: () => number
}

export interface ProbeDeps extends ProbeSystem {
  log: Logger
}

// `nix show-config --json` prints every setting with its documentation: about 40 KiB on 2.8.
const MAX_COMMAND_OUTPUT = 16 * 1024 * 1024

export const systemProbeDeps: ProbeSystem = {
  readFile: async (path) => await readFile(path, 'utf8'),
  readdir: async (path) => await readdir(path),
  readlink: async (path) => await readlink(path),
  exists: async (path) => {
    try {
      await access(path)
      return true
    } catch {
      return false
    }
  },
  runCommand: async (command, args, { timeoutMs }) => await new Promise((resolve) => {
    execFile(command, args, { timeout: timeoutMs, maxBuffer: MAX_COMMAND_OUTPUT, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error == null) {
        resolve({ code: 0, stdout, stderr })
      } else if (error.code === 'ENOENT') {
        resolve(null)
      } else {
        const code = typeof error.code === 'number' ? error.code : null
        resolve({ code, stdout, stderr: stderr === '' ? error.message : stderr })
      }
    })
  }),
  statfs: async (path) => await statfs(path),
  loadavg: () => procLoadavg() ?? loadavg(),
  cores: () => availableParallelism(),
  hostname: () => hostname(),
  arch: process.arch,
  platform: process.platform,
  userName: () => userInfo().username,
  cpuSpeed: () => measureCpuSpeed()
}

/**
 * /proc/loadavg rather than sysinfo(2): in a container LXCFS (or any bind mount over the file)
 * gives the container's own load there, while sysinfo always reports the whole machine's.
 */
function procLoadavg (): number[] | undefined {
  try {
    const fields = readFileSync('/proc/loadavg', 'utf8').split(' ', 3).map(Number)
    return fields.length === 3 && fields.every(Number.isFinite) ? fields : undefined
  } catch {
    return undefined
  }
}
