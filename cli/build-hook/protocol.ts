import { BuildmeshError } from '../../common/errors.ts'

/**
 * Nix's worker-protocol primitives, as its build hook reads them from stdin: an int is a u64,
 * little-endian; a string is its length as an int, the bytes, then zeros up to a multiple of 8;
 * a string list is a count, then that many strings (src/libutil/serialise.cc).
 */

export interface WireLimits {
  /** Longest string accepted; its length is checked before a byte of it is buffered. */
  maxStringBytes: number
  /** Most strings in one list. */
  maxListItems: number
}

export const DEFAULT_WIRE_LIMITS: WireLimits = { maxStringBytes: 64 * 1024 * 1024, maxListItems: 1 << 20 }

/** The stream broke the protocol, or ended in the middle of a value. */
export class WireError extends BuildmeshError {
  constructor (message: string) {
    super('ERR_WIRE', message)
  }
}

export function encodeInt (value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${value} is not a u64 this codec writes`)
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(BigInt(value))
  return out
}

export function encodeString (value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  return Buffer.concat([encodeInt(bytes.length), bytes, Buffer.alloc(padding(bytes.length))])
}

export function encodeStrings (values: ReadonlyArray<string | Buffer>): Buffer {
  return Buffer.concat([encodeInt(values.length), ...values.map(encodeString)])
}

function padding (length: number): number {
  return (8 - (length % 8)) % 8
}

/**
 * Reads values off a byte stream as they arrive. It pulls a chunk only when the value being read
 * needs more bytes, so it never holds more than the value in hand plus one chunk, and the stream
 * can be handed on (`detach`) with nothing lost.
 */
export class WireReader {
  private readonly source: AsyncIterator<Buffer | string>
  private readonly limits: WireLimits
  private chunks: Buffer[] = []
  private buffered = 0
  private ended = false
  private detached = false

  constructor (source: AsyncIterable<Buffer | string>, limits: WireLimits = DEFAULT_WIRE_LIMITS) {
    this.source = source[Symbol.asyncIterator]()
    this.limits = limits
  }

  /** True once the stream has ended with no byte left unread: the clean end between values. */
  async atEnd (): Promise<boolean> {
    return !(await this.fill(1))
  }

  async readInt (): Promise<number> {
    const value = (await this.take(8, 'an int')).readBigUInt64LE()
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new WireError(`int ${value} is out of range`)
    return Number(value)
  }

  async readBytes (): Promise<Buffer> {
    const length = await this.readInt()
    if (length > this.limits.maxStringBytes) throw new WireError(`string of ${length} bytes is over the limit of ${this.limits.maxStringBytes}`)
    const bytes = await this.take(length, 'a string')
    const pad = await this.take(padding(length), 'string padding')
    if (pad.some((b) => b !== 0)) throw new WireError('non-zero string padding')
    return bytes
  }

  async readString (): Promise<string> {
    return (await this.readBytes()).toString()
  }

  async readStrings (): Promise<string[]> {
    const count = await this.readInt()
    if (count > this.limits.maxListItems) throw new WireError(`list of ${count} strings is over the limit of ${this.limits.maxListItems}`)
    const values: string[] = []
    for (let i = 0; i < count; i++) values.push(await this.readString())
    return values
  }

  /** Stops reading: the bytes received but not read, and the rest of the stream. */
  detach (): { buffered: Buffer, rest: AsyncIterator<Buffer | string> } {
    this.detached = true
    const buffered = Buffer.concat(this.chunks)
    this.chunks = []
    this.buffered = 0
    return { buffered, rest: this.source }
  }

  private async fill (bytes: number): Promise<boolean> {
    if (this.detached) throw new Error('the reader was detached from its stream')
    while (this.buffered < bytes && !this.ended) {
      const next = await this.source.next()
      if (next.done === true) {
        this.ended = true
        break
      }
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
      if (chunk.length === 0) continue
      this.chunks.push(chunk)
      this.buffered += chunk.length
    }
    return this.buffered >= bytes
  }

  private async take (bytes: number, what: string): Promise<Buffer> {
    if (bytes === 0) return Buffer.alloc(0)
    if (!(await this.fill(bytes))) throw new WireError(`stream ended in the middle of ${what}`)
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks)
    const value = joined.subarray(0, bytes)
    const rest = joined.subarray(bytes)
    this.chunks = rest.length === 0 ? [] : [rest]
    this.buffered = rest.length
    return value
  }
}
