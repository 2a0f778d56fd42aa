import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { sshdConfig } from './sshd-config.ts'

export const SSHD = '/usr/sbin/sshd'
/** A real sshd needs root (it changes user) and the Debian package. */
export const canRunSshd = process.getuid?.() === 0 && existsSync(SSHD)

export interface Run { code: number | null, stdout: string, stderr: string }

export async function run (command: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return await new Promise((resolve) => {
    const child = execFile(command, args, { env, timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
    })
    // End of input at once: a forced nix-daemon would otherwise wait for a client until the timeout.
    child.stdin?.end()
  })
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

export async function makeKey (dir: string, name: string): Promise<{ file: string, publicKey: string }> {
  const file = join(dir, name)
  const made = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file])
  if (made.code !== 0) throw new Error(`ssh-keygen failed: ${made.stderr}`)
  return { file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() }
}

export interface LoopbackSshd {
  port: number
  /** `ssh-ed25519 AAAA...` without a comment. */
  hostKey: string
  hostKeyFile: string
  stop: () => Promise<void>
}

/** A real OpenSSH server on 127.0.0.1 and a free port, reading the given authorized_keys file. */
export async function startLoopbackSshd (dir: string, authorizedKeysFile: string): Promise<LoopbackSshd> {
  const port = await freePort()
  const host = await makeKey(dir, 'ssh_host_ed25519_key')
  const config = join(dir, 'sshd_config')
  await writeFile(config, sshdConfig({ address: '127.0.0.1', port, hostKeyFile: host.file, authorizedKeysFile, pidFile: join(dir, 'sshd.pid') }))
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 })
  // sshd re-executes itself for each connection, so it must be started by absolute path.
  const sshd = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  await new Promise<void>((resolve, reject) => {
    sshd.stderr?.setEncoding('utf8')
    sshd.stderr?.on('data', (chunk: string) => {
      log += chunk
      if (log.includes(`Server listening on 127.0.0.1 port ${port}.`)) resolve()
    })
    sshd.on('exit', (code) => { reject(new Error(`sshd exited with ${code}: ${log}`)) })
  })
  return { port, hostKey: host.publicKey.split(' ').slice(0, 2).join(' '), hostKeyFile: host.file, stop: async () => { await stopChild(sshd) } }
}

/** Ends a child this test started, by its pid. */
export async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  process.kill(child.pid, 'SIGTERM')
  await exited
}
