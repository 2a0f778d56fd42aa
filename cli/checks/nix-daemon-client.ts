import type { Readable, Writable } from 'node:stream'
import { BuildmeshError } from '../../common/errors.ts'

// The Nix worker protocol as `nix-daemon --stdio` speaks it: little-endian 64-bit integers and
// length-prefixed strings padded to 8 bytes (src/libstore/worker-protocol.hh, daemon.cc).
const WORKER_MAGIC_1 = 0x6e697863
const WORKER_MAGIC_2 = 0x6478696f
const STDERR_NEXT = 0x6f6c6d67
const STDERR_READ = 0x64617461
const STDERR_WRITE = 0x64617416
const STDERR_LAST = 0x616c7473
const STDERR_ERROR = 0x63787470
const STDERR_START_ACTIVITY = 0x53545254
const STDERR_STOP_ACTIVITY = 0x53544f50
const STDERR_RESULT = 0x52534c54
const OP_SET_OPTIONS = 19
const LVL_DEBUG = 6
const LVL_VOMIT = 7

/**
 * The version we claim: Nix 2.8's. Every daemon since accepts it, and below 1.35 no daemon sends
 * its trust flag, so every daemon is asked about trust the same way (see `isTrusted`).
 */
export const CLIENT_PROTOCOL = (1 << 8) | 34
/** A restricted setting that changes nothing for a connection that runs no build. */
export const TRUST_PROBE_SETTING = 'narinfo-cache-negative-ttl'
const MAX_STRING = 64 * 1024

/** The other end did not speak the protocol, hung up, or answered with an error. */
export class NixDaemonError extends BuildmeshError {
  readonly reason: 'not-daemon' | 'ended' | 'daemon-error' | 'protocol'

  constructor (reason: NixDaemonError['reason'], message: string) {
    super('ERR_NIX_DAEMON', message)
    this.reason = reason
  }
}

export interface DaemonHello {
  /** `1.34`: the protocol both sides speak now, the lower of the two versions. */
  protocol: string
  /** The daemon's Nix version, which daemons send from protocol 1.33 (Nix 2.4) on. */
  nixVersion: string | null
}

/** Reads exactly what is asked for from a stream that delivers chunks of any size. */
class WireReader {
  /** Received and not taken yet. */
  buffered = Buffer.alloc(0)
  private ended = false
  private wake: (() => void) | null = null

  constructor (input: Readable) {
    input.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk])
      this.poke()
    })
    input.once('end', () => { this.ended = true; this.poke() })
    input.once('close', () => { this.ended = true; this.poke() })
  }

  async take (n: number): Promise<Buffer> {
    while (this.buffered.length < n) {
      if (this.ended) throw new NixDaemonError('ended', 'the remote command ended the session')
      await new Promise<void>((resolve) => { this.wake = resolve })
    }
    const taken = this.buffered.subarray(0, n)
    this.buffered = this.buffered.subarray(n)
    return taken
  }

  async u64 (): Promise<number> {
    const value = (await this.take(8)).readBigUInt64LE()
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new NixDaemonError('protocol', `integer ${value} out of range`)
    return Number(value)
  }

  async string (): Promise<string> {
    const length = await this.u64()
    if (length > MAX_STRING) throw new NixDaemonError('protocol', `a ${length}-byte string is more than a handshake sends`)
    return (await this.take(length + padding(length))).subarray(0, length).toString('utf8')
  }

  private poke (): void {
    const wake = this.wake
    this.wake = null
    wake?.()
  }
}

function padding (length: number): number {
  return (8 - (length % 8)) % 8
}

function u64 (value: number): Buffer {
  const buffer = Buffer.alloc(8)
  buffer.writeBigUInt64LE(BigInt(value))
  return buffer
}

function str (text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8')
  return Buffer.concat([u64(bytes.length), bytes, Buffer.alloc(padding(bytes.length))])
}

/** What a daemon prints is for terminals: colour codes would only clutter a report line. */
function plain (text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, '').trim()
}

/** A client for the few operations a builder check needs; one instance per connection. */
export class NixDaemonClient {
  private readonly reader: WireReader
  private readonly output: Writable
  private minor = 0

  constructor (input: Readable, output: Writable) {
    this.reader = new WireReader(input)
    this.output = output
  }

  async handshake (): Promise<DaemonHello> {
    this.output.write(u64(WORKER_MAGIC_1))
    const magic = await this.reader.take(8)
    if (magic.readBigUInt64LE() !== BigInt(WORKER_MAGIC_2)) {
      // A shell refusing the account, or another program, says something: show it.
      const said = plain(Buffer.concat([magic, this.reader.buffered]).toString('utf8')).replace(/[^\x20-\x7e]+/g, ' ').slice(0, 120)
      throw new NixDaemonError('not-daemon', `the remote command answered "${said}", not the Nix daemon protocol`)
    }
    const daemonVersion = await this.reader.u64()
    if (daemonVersion >> 8 !== 1) throw new NixDaemonError('protocol', `unknown daemon protocol ${daemonVersion >> 8}.${daemonVersion & 0xff}`)
    const version = Math.min(daemonVersion, CLIENT_PROTOCOL)
    this.minor = version & 0xff
    this.output.write(Buffer.concat([
      u64(CLIENT_PROTOCOL),
      ...(this.minor >= 14 ? [u64(0)] : []), // no CPU affinity
      ...(this.minor >= 11 ? [u64(0)] : []) // obsolete reserveSpace
    ]))
    const nixVersion = this.minor >= 33 ? await this.reader.string() : null
    await this.readMessages()
    return { protocol: `1.${this.minor}`, nixVersion }
  }

  /**
   * Whether the daemon trusts this connection's user. Nix 2.8 does not say, but every version
   * since 2.3 refuses a restricted setting from an untrusted user with "ignoring the
   * client-specified setting ..., because it is a restricted setting and you are not a trusted
   * user"; the same flag decides whether it takes unsigned paths and builds input-addressed
   * derivations.
   */
  async isTrusted (): Promise<boolean> {
    this.output.write(Buffer.concat([
      u64(OP_SET_OPTIONS),
      u64(0), u64(0), u64(0), // keepFailed, keepGoing, tryFallback
      // The daemon drops log lines above this verbosity; Nix 2.8 logs the refusal at debug level, later versions warn.
      u64(LVL_DEBUG),
      u64(1), u64(0), // maxBuildJobs, maxSilentTime
      u64(1), // obsolete useBuildHook
      u64(LVL_VOMIT), // verboseBuild is "this equals lvlError"
      u64(0), u64(0), // obsolete logType, printBuildTrace
      u64(0), u64(0), // buildCores, useSubstitutes
      ...(this.minor >= 12 ? [u64(1), str(TRUST_PROBE_SETTING), str('3600')] : [])
    ]))
    const messages = await this.readMessages()
    return !messages.some((m) => m.includes(`'${TRUST_PROBE_SETTING}'`) && m.includes('not a trusted user'))
  }

  /** Log lines until the daemon says it is done; throws the daemon's error if it sends one. */
  private async readMessages (): Promise<string[]> {
    const messages: string[] = []
    const r = this.reader
    for (;;) {
      const kind = await r.u64()
      switch (kind) {
        case STDERR_LAST:
          return messages
        case STDERR_NEXT:
          messages.push(plain(await r.string()))
          break
        case STDERR_ERROR:
          throw new NixDaemonError('daemon-error', await this.readError())
        case STDERR_WRITE:
          await r.string()
          break
        case STDERR_START_ACTIVITY:
          await r.u64(); await r.u64(); await r.u64() // id, level, type
          messages.push(plain(await r.string()))
          await this.skipFields()
          await r.u64() // parent
          break
        case STDERR_STOP_ACTIVITY:
          await r.u64()
          break
        case STDERR_RESULT:
          await r.u64(); await r.u64() // id, type
          await this.skipFields()
          break
        case STDERR_READ:
          throw new NixDaemonError('protocol', 'the daemon asked for data this client never offered')
        default:
          throw new NixDaemonError('protocol', `unknown message 0x${kind.toString(16)} from the daemon`)
      }
    }
  }

  private async readError (): Promise<string> {
    const r = this.reader
    if (this.minor < 26) {
      const message = await r.string()
      await r.u64() // exit status
      return plain(message)
    }
    await r.string(); await r.u64(); await r.string() // "Error", level, obsolete name
    const message = await r.string()
    if (await r.u64() !== 0) throw new NixDaemonError('protocol', 'an error position, which no daemon sends')
    const traces = await r.u64()
    for (let i = 0; i < traces; i++) {
      await r.u64() // position, always absent
      await r.string()
    }
    return plain(message)
  }

  private async skipFields (): Promise<void> {
    const r = this.reader
    const count = await r.u64()
    for (let i = 0; i < count; i++) {
      const type = await r.u64()
      if (type === 0) await r.u64()
      else if (type === 1) await r.string()
      else throw new NixDaemonError('protocol', `unknown field type ${type}`)
    }
  }
}
