import { createHash } from 'node:crypto'
import { deflateSync } from 'node:zlib'

/** One round compresses and hashes this much: native code that, like a compiler, is branchy and memory-bound. */
const ROUND_BYTES = 4 << 20
const ROUNDS = 7
/**
 * Milliseconds one round takes on the reference machine (a 2026 cloud x86-64 vCPU), which is
 * speed 1. Only the ratio between hosts matters: every agent runs the same rounds.
 */
export const REFERENCE_ROUND_MS = 12

function sampleData (): Buffer {
  const data = Buffer.alloc(ROUND_BYTES)
  let x = 12345
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    data[i] = 97 + ((x >> 16) % 16)
  }
  return data
}

/**
 * A short, repeatable single-core benchmark (about 0.1 s) whose result is the speed this host
 * advertises, so nobody has to guess a speedFactor. The fastest round counts: slower ones
 * measure other load on the machine, not the machine.
 */
export function measureCpuSpeed (now: () => bigint = process.hrtime.bigint): number {
  const data = sampleData()
  let best = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    const started = now()
    deflateSync(data, { level: 6 })
    createHash('sha256').update(data).digest()
    best = Math.min(best, Number(now() - started) / 1e6)
  }
  return Math.max(0.01, Math.round((REFERENCE_ROUND_MS / Math.max(best, 0.001)) * 100) / 100)
}
