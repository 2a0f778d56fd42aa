import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { encodeInt, encodeString, encodeStrings, WireError, WireReader } from '../../../../cli/build-hook/protocol.ts'

async function * chunks (bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size)
}

describe('worker-protocol codec', () => {
  it('writes ints as u64 little-endian and strings padded with zeros to 8 bytes', () => {
    expect(encodeInt(1).toString('hex')).toBe('0100000000000000')
    expect(encodeInt(2 ** 40 + 3).toString('hex')).toBe('0300000000010000')
    expect(encodeString('try').toString('hex')).toBe('0300000000000000' + '747279' + '0000000000')
    expect(encodeString('').toString('hex')).toBe('0000000000000000')
    expect(encodeString('12345678')).toHaveLength(16)
    expect(encodeStrings(['a', 'bc']).toString('hex')).toBe('0200000000000000' + '0100000000000000' + '61' + '00'.repeat(7) + '0200000000000000' + '6263' + '00'.repeat(6))
    expect(() => encodeInt(-1)).toThrow(RangeError)
  })

  it.each([1, 3, 8, 13, 1000])('reads back what it wrote, whatever the chunk size (%i bytes)', async (size) => {
    const utf8 = 'gr\u00fc\u00df \u{1f600}'
    const bytes = Buffer.concat([encodeInt(0), encodeInt(7), encodeString('try'), encodeString(utf8), encodeStrings(['x86_64-linux', '', 'kvm']), encodeString(Buffer.from([0, 255, 10]))])
    const reader = new WireReader(chunks(bytes, size))
    expect(await reader.readInt()).toBe(0)
    expect(await reader.readInt()).toBe(7)
    expect(await reader.readString()).toBe('try')
    expect(await reader.readString()).toBe(utf8)
    expect(await reader.readStrings()).toEqual(['x86_64-linux', '', 'kvm'])
    expect([...await reader.readBytes()]).toEqual([0, 255, 10])
    expect(await reader.atEnd()).toBe(true)
  })

  it('waits for a value split across writes to a live stream', async () => {
    const stream = new PassThrough()
    const reader = new WireReader(stream)
    const value = reader.readString()
    const bytes = encodeString('/nix/store/abc-job.drv')
    stream.write(bytes.subarray(0, 5))
    await new Promise((resolve) => setImmediate(resolve))
    stream.write(bytes.subarray(5, 11))
    stream.write(bytes.subarray(11))
    expect(await value).toBe('/nix/store/abc-job.drv')
    stream.end()
    expect(await reader.atEnd()).toBe(true)
  })

  it('refuses an absurd length before buffering any of it', async () => {
    const stream = new PassThrough()
    const reader = new WireReader(stream)
    stream.write(encodeInt(64 * 1024 * 1024 + 1))
    // Nothing more is sent: the reader must fail on the length alone instead of waiting.
    await expect(reader.readString()).rejects.toThrow(/67108865 bytes is over the limit of 67108864/)
    const small = new WireReader(chunks(encodeStrings(['a', 'b', 'c']), 4), { maxStringBytes: 10, maxListItems: 2 })
    await expect(small.readStrings()).rejects.toThrow(/list of 3 strings is over the limit of 2/)
    const huge = new WireReader(chunks(Buffer.from('ffffffffffffffff', 'hex'), 8))
    await expect(huge.readInt()).rejects.toThrow(WireError)
  })

  it('takes a string of exactly the limit', async () => {
    const reader = new WireReader(chunks(encodeString('x'.repeat(100)), 7), { maxStringBytes: 100, maxListItems: 1 })
    expect(await reader.readString()).toHaveLength(100)
  })

  it('refuses non-zero padding and a stream that ends inside a value', async () => {
    const padded = encodeString('abc')
    padded[12] = 1
    await expect(new WireReader(chunks(padded, 8)).readString()).rejects.toThrow(/non-zero string padding/)
    await expect(new WireReader(chunks(encodeString('abcdef').subarray(0, 10), 3)).readString()).rejects.toThrow(/stream ended in the middle of a string/)
    await expect(new WireReader(chunks(Buffer.from([1, 0, 0]), 3)).readInt()).rejects.toThrow(/in the middle of an int/)
  })

  it('hands over the unread bytes and the rest of the stream', async () => {
    const stream = new PassThrough()
    const reader = new WireReader(stream)
    stream.write(Buffer.concat([encodeInt(5), Buffer.from('leftover')]))
    expect(await reader.readInt()).toBe(5)
    const { buffered, rest } = reader.detach()
    expect(buffered.toString()).toBe('leftover')
    stream.end('more')
    expect(String((await rest.next()).value)).toBe('more')
    expect((await rest.next()).done).toBe(true)
    await expect(reader.readInt()).rejects.toThrow(/detached/)
  })
})
