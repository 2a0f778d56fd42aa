import type { Readable, Writable } from 'node:stream'

/*
 * The daemon side of the Nix worker protocol, as far as `mesh test` uses it: the handshake and
 * SetOptions, answered the way Nix 2.8's daemon.cc answers them. No vitest here: a forced
 * command in a real sshd runs it too (fake-nix-daemon-main.ts).
 */

export interface FakeDaemonOptions {
  /** The daemon's protocol version; default 1.34, Nix 2.8's. */
  protocol?: number
  nixVersion?: string
  trusted?: boolean
  /** Answer SetOptions with this error instead. */
  setOptionsError?: string
  /** Deliver every write one byte at a time. */
  trickle?: boolean
}

const u64 = (n: number): Buffer => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b }
const pad = (n: number): number => (8 - (n % 8)) % 8
const str = (s: string): Buffer => { const b = Buffer.from(s); return Buffer.concat([u64(b.length), b, Buffer.alloc(pad(b.length))]) }

export const STDERR = { next: 0x6f6c6d67, last: 0x616c7473, error: 0x63787470, startActivity: 0x53545254, stopActivity: 0x53544f50, result: 0x52534c54 }

class Reader {
  private buffered = Buffer.alloc(0)
  private waiting: (() => void) | null = null
  private ended = false
  constructor (input: Readable) {
    input.on('data', (chunk: Buffer) => { this.buffered = Buffer.concat([this.buffered, chunk]); this.waiting?.() })
    input.on('end', () => { this.ended = true; this.waiting?.() })
  }

  async take (n: number): Promise<Buffer | null> {
    while (this.buffered.length < n) {
      if (this.ended) return null
      await new Promise<void>((resolve) => { this.waiting = resolve })
    }
    const taken = this.buffered.subarray(0, n)
    this.buffered = this.buffered.subarray(n)
    return taken
  }

  async u64 (): Promise<number | null> {
    const b = await this.take(8)
    return b === null ? null : Number(b.readBigUInt64LE())
  }

  async string (): Promise<string | null> {
    const n = await this.u64()
    if (n === null) return null
    const b = await this.take(n + pad(n))
    return b === null ? null : b.subarray(0, n).toString()
  }
}

/** Serves one client until it hangs up. */
export async function serveFakeNixDaemon (input: Readable, output: Writable, options: FakeDaemonOptions = {}): Promise<void> {
  const protocol = options.protocol ?? 0x122
  const send = (...parts: Buffer[]): void => {
    const bytes = Buffer.concat(parts)
    if (options.trickle === true) for (const byte of bytes) output.write(Buffer.from([byte]))
    else output.write(bytes)
  }
  const r = new Reader(input)
  if (await r.u64() !== 0x6e697863) return
  send(u64(0x6478696f), u64(protocol))
  const client = await r.u64()
  if (client === null) return
  const minor = Math.min(client, protocol) & 0xff
  if (minor >= 14 && await r.u64() !== 0) await r.u64()
  if (minor >= 11) await r.u64()
  send(...(minor >= 33 ? [str(options.nixVersion ?? '2.8.0')] : []), u64(STDERR.last))
  for (;;) {
    const op = await r.u64()
    if (op === null) return
    if (op !== 19) {
      send(u64(STDERR.error), str('Error'), u64(0), str('Error'), str(`invalid operation ${op}`), u64(0), u64(0))
      continue
    }
    for (let i = 0; i < 12; i++) await r.u64()
    const overrides: string[] = []
    const count = minor >= 12 ? await r.u64() ?? 0 : 0
    for (let i = 0; i < count; i++) {
      overrides.push(await r.string() ?? '')
      await r.string()
    }
    if (options.setOptionsError !== undefined) {
      send(u64(STDERR.error), str('Error'), u64(0), str('Error'), str(options.setOptionsError), u64(0), u64(1), u64(0), str('while setting options'))
      continue
    }
    // What a busy daemon interleaves: an activity, a result, a log line in colour.
    send(u64(STDERR.startActivity), u64(7), u64(3), u64(0), str('applying settings'), u64(2), u64(0), u64(5), u64(1), str('x'), u64(0))
    send(u64(STDERR.result), u64(7), u64(101), u64(1), u64(1), str('y'))
    send(u64(STDERR.stopActivity), u64(7))
    if (options.trusted === false) {
      for (const name of overrides) {
        send(u64(STDERR.next), str(`\x1b[35;1mwarning:\x1b[0m ignoring the client-specified setting '${name}', because it is a restricted setting and you are not a trusted user\n`))
      }
    }
    send(u64(STDERR.last))
  }
}
