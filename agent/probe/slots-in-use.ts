import { basename } from 'node:path'
import { mapConcurrently } from '../../common/map-concurrently.ts'
import type { ProbeDeps } from './deps.ts'

type ProcDeps = Pick<ProbeDeps, 'readdir' | 'readFile'> & Partial<Pick<ProbeDeps, 'readlink'>>

interface ProcStat {
  pid: string
  /** The executable's (or, for a `#!` script, the script's) file name, cut to 15 bytes. */
  comm: string
  ppid: string
}

// Process names an OpenSSH session runs commands under: `sshd` before OpenSSH 9.8, then
// `sshd-session` once the listener and the per-connection process became separate programs.
const SSH_SESSION_NAMES = new Set(['sshd', 'sshd-session'])
// Whose command line is worth reading. `guix` is a Guile script, so its comm is `guix` when run
// by name and `guile…` when Guile is called on it; `.guix-real` is how Guix names wrapped programs.
const CANDIDATE_NAMES = /^(?:nix-daemon|nix|guix|\.guix-real|guile.*)$/
// Each read is a round trip to libuv's thread pool: overlap a few, without holding many files open.
const CONCURRENT_READS = 16

/** Reading /proc/PID/stat takes no lock on the process's memory, unlike cmdline: a stuck process cannot stall it. */
async function readStat (deps: ProcDeps, pid: string): Promise<ProcStat | null> {
  let stat: string
  try {
    stat = await deps.readFile(`/proc/${pid}/stat`)
  } catch {
    return null
  }
  // comm may hold anything, spaces and `)` included: it ends at the last `)`.
  const open = stat.indexOf('(')
  const close = stat.lastIndexOf(')')
  if (open === -1 || close < open) return null
  const ppid = stat.slice(close + 1).trim().split(' ')[1]
  return ppid === undefined || !/^[0-9]+$/.test(ppid) ? null : { pid, comm: stat.slice(open + 1, close), ppid }
}

/** A process's arguments, or null when it has gone (or is a zombie). */
async function readArgv (deps: ProcDeps, pid: string): Promise<string[] | null> {
  let cmdline: string
  try {
    cmdline = await deps.readFile(`/proc/${pid}/cmdline`)
  } catch {
    return null
  }
  if (cmdline === '') return null
  const argv = cmdline.split('\0')
  if (argv.at(-1) === '') argv.pop()
  return argv
}

/** One per ssh-ng connection: Nix's build hook opens one for every build it hands to this host. */
export function isNixDaemonStdio (argv: readonly string[]): boolean {
  return basename(argv[0] ?? '') === 'nix-daemon' && argv.includes('--stdio', 1)
}

/**
 * `guix offload` runs every remote step as `guix repl -t machine` (guix/ssh.scm): the load check,
 * the channel to the daemon that lasts the whole build, the transfers in and out. `guix` is a
 * Guile script, so the process reads `guile --no-auto-compile /…/bin/guix repl -t machine`.
 */
export function isGuixMachineRepl (argv: readonly string[]): boolean {
  const at = argv.findIndex((arg, i) => basename(arg) === 'guix' && argv[i + 1] === 'repl')
  if (at === -1) return false
  const options = argv.slice(at + 2)
  return options.includes('--type=machine') || options.some((arg, i) => arg === '-t' && options[i + 1] === 'machine')
}

/**
 * Only processes in this agent's network namespace: containers that share a kernel (and so one
 * /proc) but each have their own network and sshd are separate builders.
 */
async function sameHost (deps: ProcDeps, stats: ProcStat[]): Promise<ProcStat[]> {
  const readlink = deps.readlink
  if (readlink === undefined) return stats
  const own = await readlink('/proc/self/ns/net').catch(() => null)
  if (own === null) return stats
  const theirs = await mapConcurrently(stats, CONCURRENT_READS, async (stat) => await readlink(`/proc/${stat.pid}/ns/net`).catch(() => null))
  return stats.filter((_, i) => theirs[i] === own)
}

/**
 * How many remote builds this host runs now, from /proc alone: cheap enough for every second.
 * Nix: `nix-daemon --stdio` processes, the command our authorized_keys line forces (a daemon's
 * workers run without `--stdio`, so one forwarding to a daemon does not count twice). Guix: SSH
 * sessions running `guix repl -t machine`, since one offload runs several of those over one
 * session; only those sshd started, because local tools run `guix repl -t machine` too.
 * Processes that end while this reads are skipped; an unreadable /proc is the caller's error.
 * Callers must not overlap calls: a read can wait on a process the kernel is busy with.
 */
export async function countBuildsInProgress (deps: ProcDeps): Promise<number> {
  const pids = (await deps.readdir('/proc')).filter((name) => /^[0-9]+$/.test(name))
  const stats = new Map<string, ProcStat>()
  for (const stat of await mapConcurrently(pids, CONCURRENT_READS, async (pid) => await readStat(deps, pid))) {
    if (stat !== null) stats.set(stat.pid, stat)
  }
  const candidates = await sameHost(deps, [...stats.values()].filter((stat) => CANDIDATE_NAMES.test(stat.comm)))
  const argvs = await mapConcurrently(candidates, CONCURRENT_READS, async (stat) => await readArgv(deps, stat.pid))

  let nix = 0
  const guixSessions = new Set<string>()
  candidates.forEach((stat, i) => {
    const argv = argvs[i]
    if (argv === null || argv === undefined) return
    if (isNixDaemonStdio(argv)) {
      nix++
    } else if (isGuixMachineRepl(argv) && SSH_SESSION_NAMES.has(stats.get(stat.ppid)?.comm ?? '')) {
      guixSessions.add(stat.ppid)
    }
  })
  return nix + guixSessions.size
}
