import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Host, HostProcess } from '../harness/index.ts'
import type { FakePeerConfig } from './fake-peer.ts'
import { readOr } from './mesh.ts'

/** The master's two lists as one sample. */
export interface ListSample {
  at: number
  nix: string
  guix: string
}

/**
 * Reads the master's Nix and Guix files every `intervalMs` until stopped, keeping every sample,
 * so a test can say "never" about a whole stretch of time rather than one moment.
 */
export class ListWatcher {
  readonly samples: ListSample[] = []
  private readonly files: { nixFile: string, guixFile: string }
  private timer: NodeJS.Timeout | undefined
  private reading = false

  constructor (files: { nixFile: string, guixFile: string }, intervalMs = 25) {
    this.files = files
    this.timer = setInterval(() => { void this.sample() }, intervalMs)
  }

  private async sample (): Promise<void> {
    if (this.reading) return
    this.reading = true
    try {
      const [nix, guix] = await Promise.all([readOr(this.files.nixFile), readOr(this.files.guixFile)])
      this.samples.push({ at: Date.now(), nix, guix })
    } finally {
      this.reading = false
    }
  }

  /** Stops sampling; resolves with the samples taken. */
  stop (): ListSample[] {
    clearInterval(this.timer)
    this.timer = undefined
    return this.samples
  }

  /** Samples in which either file contains `text`. */
  containing (text: string): ListSample[] {
    return this.samples.filter((s) => s.nix.includes(text) || s.guix.includes(text))
  }

  /** Samples in which the Nix or the Guix file lacks `text`. */
  lacking (text: string): ListSample[] {
    return this.samples.filter((s) => !s.nix.includes(text) || !s.guix.includes(text))
  }
}

/** Milliseconds until `probe` holds, polling every `intervalMs`; throws after `timeoutMs`. */
export async function msUntil (probe: () => Promise<boolean>, { timeoutMs, intervalMs = 20, what }: { timeoutMs: number, intervalMs?: number, what: string }): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await probe().catch(() => false)) return Date.now() - start
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Whether both of the master's files name `address` (as a Nix `ssh-ng://` line and a Guix `name`). */
export async function listed (master: { nixFile: string, guixFile: string }, address: string): Promise<boolean> {
  const [nix, guix] = await Promise.all([readOr(master.nixFile), readOr(master.guixFile)])
  return nix.includes(`@${address} `) && guix.includes(`(name "${address}")`)
}

/** Whether neither of the master's files mentions `address`. */
export async function unlisted (master: { nixFile: string, guixFile: string }, address: string): Promise<boolean> {
  const [nix, guix] = await Promise.all([readOr(master.nixFile), readOr(master.guixFile)])
  return !nix.includes(address) && !guix.includes(address)
}

/** The JSON log lines (pino) an agent has written so far. */
export function logLines (proc: HostProcess): Array<Record<string, unknown>> {
  const lines: Array<Record<string, unknown>> = []
  for (const line of proc.stderr().split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    } catch { /* a line cut by the output limit */ }
  }
  return lines
}

/** The libp2p peer id an agent logged when its mesh node started. */
export async function agentPeerId (proc: HostProcess): Promise<string> {
  const match = await proc.waitForOutput(/"peerId":"(\w+)","port":\d+,"msg":"mesh node listening"/)
  return match[1] ?? ''
}

/** A master's SSH public key as a builder's authorized_keys gets it: `type base64`. */
export async function masterPublicKey (stateDir: string): Promise<string> {
  return (await readFile(join(stateDir, 'ssh', 'id_ed25519.pub'), 'utf8')).trim().split(/\s+/).slice(0, 2).join(' ')
}

export const FAKE_PEER = resolve(import.meta.dirname, 'fake-peer.ts')

/** A fake peer (support/fake-peer.ts) run by Node inside `host`; resolves once it advertises. */
export async function startFakePeer (host: Host, config: FakePeerConfig): Promise<HostProcess> {
  const proc = host.spawn(process.execPath, [FAKE_PEER, JSON.stringify(config)])
  await proc.waitForOutput('"event":"advertising"', { timeoutMs: 15_000, stream: 'stdout' })
  return proc
}
