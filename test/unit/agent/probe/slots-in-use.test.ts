import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { systemProbeDeps } from '../../../../agent/probe/deps.ts'
import type { ProbeSystem } from '../../../../agent/probe/deps.ts'
import { countBuildsInProgress, isGuixMachineRepl, isNixDaemonStdio } from '../../../../agent/probe/slots-in-use.ts'
import { fakeMachine } from './fakes.ts'

type ProcDeps = Pick<ProbeSystem, 'readdir' | 'readFile'> & Partial<Pick<ProbeSystem, 'readlink'>>

interface FakeProcess { argv: string[], comm?: string, ppid?: number, net?: string }

const GUILE = '/gnu/store/4kx0c2bqc6b6a1w4lj2hmmn7x6l2q4fb-guile-3.0.9/bin/guile'
const GUIX = '/gnu/store/a0ljdfdz4a2fnnv3w7s1mr4mnz1kkqzq-guix-1.4.0/bin/guix'
const guixRepl = [GUILE, '--no-auto-compile', GUIX, 'repl', '-t', 'machine']

/** /proc as the kernel shows it: NUL-terminated arguments, `pid (comm) state ppid ...`. */
function proc (processes: Record<number, FakeProcess>, ownNet?: string): ProcDeps {
  const files: Record<string, string> = { '/proc/uptime': '1.0 1.0\n', '/proc/self/cmdline': 'node\0' }
  if (ownNet !== undefined) files['/proc/self/ns/net'] = ownNet
  for (const [pid, p] of Object.entries(processes)) {
    if (p.net !== undefined) files[`/proc/${pid}/ns/net`] = p.net
    files[`/proc/${pid}/cmdline`] = p.argv.length === 0 ? '' : `${p.argv.join('\0')}\0`
    files[`/proc/${pid}/stat`] = `${pid} (${p.comm ?? (p.argv[0] ?? '').split('/').at(-1)?.slice(0, 15) ?? ''}) S ${p.ppid ?? 1} ${pid} ${pid} 0 -1 4194560 1241 0 2 0\n`
  }
  return fakeMachine({ files }).deps
}

const sshSession = (ppid = 100): FakeProcess => ({ argv: ['sshd: nix-builder@notty'], comm: 'sshd', ppid })

describe('isNixDaemonStdio', () => {
  it.each([
    [['nix-daemon', '--stdio'], true],
    [['/nix/store/abc-nix-2.8.0/bin/nix-daemon', '--stdio'], true],
    [['nix-daemon', '--stdio', '--store', 'local'], true],
    [['nix-daemon'], false],
    [['nix-daemon', '--daemon'], false],
    [['bash', '-c', 'nix-daemon --stdio'], false],
    [['sh', '-c', 'nix-daemon', '--stdio'], false],
    [['nix-daemon --stdio'], false],
    [['--stdio', 'nix-daemon'], false],
    [[], false]
  ])('%j: %s', (argv, expected) => {
    expect(isNixDaemonStdio(argv)).toBe(expected)
  })
})

describe('isGuixMachineRepl', () => {
  it.each([
    [guixRepl, true],
    [['guix', 'repl', '-t', 'machine'], true],
    [[GUILE, GUIX, 'repl', '--type=machine'], true],
    [[GUILE, '--no-auto-compile', GUIX, 'repl'], false],
    [[GUILE, '--no-auto-compile', GUIX, 'repl', '-t', 'guile'], false],
    [[GUILE, '--no-auto-compile', GUIX, 'build', 'hello'], false],
    [['bash', '-c', 'guix repl -t machine'], false],
    [['vim', 'guix', 'repl', '-t', 'machine-notes'], false]
  ])('%j: %s', (argv, expected) => {
    expect(isGuixMachineRepl(argv)).toBe(expected)
  })
})

describe('countBuildsInProgress', () => {
  it('is 0 on an idle host', async () => {
    expect(await countBuildsInProgress(proc({
      1: { argv: ['/sbin/init'] },
      2: { argv: [], comm: 'kthreadd' },
      300: { argv: ['nix-daemon', '--daemon'] },
      301: { argv: ['/usr/sbin/sshd', '-D'], comm: 'sshd' }
    }))).toBe(0)
  })

  it('counts each nix-daemon --stdio, but not the daemon\'s workers it forwards to', async () => {
    expect(await countBuildsInProgress(proc({
      100: { argv: ['/usr/sbin/sshd', '-D'], comm: 'sshd' },
      200: sshSession(),
      201: { argv: ['nix-daemon', '--stdio'], ppid: 200 },
      202: sshSession(),
      203: { argv: ['/nix/store/x-nix-2.8.0/bin/nix-daemon', '--stdio'], ppid: 202 },
      300: { argv: ['nix-daemon', '--daemon'] },
      301: { argv: ['nix-daemon', '--daemon'], ppid: 300 },
      302: { argv: ['nix-daemon', '--daemon'], ppid: 300 }
    }))).toBe(2)
  })

  it('counts a Guix offload once however many `guix repl` it runs over its session', async () => {
    expect(await countBuildsInProgress(proc({
      200: sshSession(),
      201: { argv: guixRepl, ppid: 200 },
      202: { argv: guixRepl, ppid: 200 },
      203: { argv: guixRepl, ppid: 200 },
      210: { argv: ['sshd-session: nix-builder@notty'], comm: 'sshd-session' },
      211: { argv: guixRepl, ppid: 210 }
    }))).toBe(2)
  })

  it('does not count `guix repl -t machine` that local tools run', async () => {
    expect(await countBuildsInProgress(proc({
      400: { argv: ['emacs'] },
      401: { argv: guixRepl, ppid: 400 },
      402: { argv: [GUILE, GUIX, 'time-machine', '--', 'build', 'hello'] },
      403: { argv: guixRepl, ppid: 402 }
    }))).toBe(0)
  })

  it('counts only sessions in its own network namespace: containers on one kernel are separate hosts', async () => {
    expect(await countBuildsInProgress(proc({
      100: { argv: ['/usr/sbin/sshd', '-D'], comm: 'sshd', net: 'net:[4026531840]' },
      200: { ...sshSession(), net: 'net:[4026531840]' },
      201: { argv: ['nix-daemon', '--stdio'], ppid: 200, net: 'net:[4026531840]' },
      202: { argv: ['nix-daemon', '--stdio'], ppid: 200, net: 'net:[4026532999]' },
      203: { argv: ['nix-daemon', '--stdio'], ppid: 200 }
    }, 'net:[4026531840]'))).toBe(1)
  })

  it('adds Nix and Guix builds together', async () => {
    expect(await countBuildsInProgress(proc({
      200: sshSession(),
      201: { argv: ['nix-daemon', '--stdio'], ppid: 200 },
      210: sshSession(),
      211: { argv: guixRepl, ppid: 210 }
    }))).toBe(2)
  })

  it('reads a comm holding spaces and parentheses', async () => {
    expect(await countBuildsInProgress(proc({
      200: { argv: ['x'], comm: 'a) b (c' },
      201: { argv: guixRepl, ppid: 200 },
      210: sshSession(),
      211: { argv: guixRepl, ppid: 210 }
    }))).toBe(1)
  })

  it('skips processes that end between the listing and the read', async () => {
    const real = proc({
      200: sshSession(),
      201: { argv: ['nix-daemon', '--stdio'], ppid: 200 },
      210: sshSession(),
      211: { argv: guixRepl, ppid: 210 },
      220: { argv: guixRepl, ppid: 999 }
    })
    const vanished = new Set(['/proc/201/cmdline', '/proc/211/stat', '/proc/210/stat', '/proc/777/cmdline'])
    const deps: ProcDeps = {
      readdir: async (path) => [...await real.readdir(path), '777'],
      readFile: async (path) => {
        if (vanished.has(path)) throw Object.assign(new Error(`ESRCH: no such process, read '${path}'`), { code: 'ESRCH' })
        return await real.readFile(path)
      }
    }
    expect(await countBuildsInProgress(deps)).toBe(0)
  })

  it('reads the command line only of processes whose name could be a build session\'s', async () => {
    const reads: string[] = []
    const real = proc({
      5: { argv: ['nix-daemon', '--stdio'] },
      6: { argv: ['cc1plus', '-quiet'] },
      7: { argv: [GUIX, 'repl', '-t', 'machine'], comm: 'guix' },
      8: { argv: guixRepl, comm: 'guile-3.0' },
      9: { argv: ['/usr/bin/fuse-nfs'] }
    })
    await countBuildsInProgress({ readdir: real.readdir, readFile: async (path) => { reads.push(path); return await real.readFile(path) } })
    expect(reads.filter((path) => path.endsWith('/cmdline')).sort()).toEqual(['/proc/5/cmdline', '/proc/7/cmdline', '/proc/8/cmdline'])
    expect(reads.filter((path) => path.endsWith('/stat')).sort()).toEqual([5, 6, 7, 8, 9].map((pid) => `/proc/${pid}/stat`))
  })

  it('skips a zombie, whose command line is empty', async () => {
    expect(await countBuildsInProgress(proc({ 5: { argv: [], comm: 'nix-daemon' } }))).toBe(0)
  })

  it('lets an unreadable /proc fail, for the caller to report once', async () => {
    await expect(countBuildsInProgress(fakeMachine({}).deps)).rejects.toThrow(/ENOENT/)
  })

  it.skipIf(process.platform !== 'linux' || !existsSync('/usr/bin/nix-daemon'))('sees a real nix-daemon --stdio come and go', async () => {
    // Other test files run at the same time and may start their own nix-daemon --stdio: look at
    // this worker's children only, through the real /proc.
    const children: ProcDeps = {
      readFile: systemProbeDeps.readFile,
      readdir: async (path) => {
        const names = await systemProbeDeps.readdir(path)
        const mine = await Promise.all(names.map(async (name) => {
          const stat = await systemProbeDeps.readFile(`/proc/${name}/stat`).catch(() => '')
          return stat.slice(stat.lastIndexOf(')') + 1).trim().split(' ')[1] === String(process.pid)
        }))
        return names.filter((_, i) => mine[i])
      }
    }
    const before = await countBuildsInProgress(children)
    // With its input held open, nix-daemon --stdio waits for a client's handshake.
    const daemon = spawn('nix-daemon', ['--stdio'], { stdio: ['pipe', 'ignore', 'ignore'] })
    try {
      const deadline = Date.now() + 5000
      let during = before
      while (during === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        during = await countBuildsInProgress(children)
      }
      expect(during).toBe(before + 1)
      expect(await countBuildsInProgress(systemProbeDeps)).toBeGreaterThanOrEqual(1)
    } finally {
      if (daemon.pid !== undefined && daemon.exitCode === null && daemon.signalCode === null) {
        const exited = new Promise((resolve) => daemon.once('exit', resolve))
        process.kill(daemon.pid, 'SIGTERM')
        await exited
      }
    }
    expect(await countBuildsInProgress(children)).toBe(before)
  })
})
