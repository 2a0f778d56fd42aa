/*
 * How fast the master's Nix file follows a builder that dies or hangs, measured on a LAN of
 * network namespaces (needs root):
 *   npm run bench:liveness           (or: node bench/liveness.ts, with Node >= 22.18)
 *
 * A master (m), the measured builder (b1) and a second builder (b2) that stays up throughout.
 * Each row is 5 samples of milliseconds, the file polled every 5 ms:
 * - SIGKILL of b1's agent -> its line gone (the kernel closes the mesh connection: at once);
 * - SIGSTOP of b1's agent -> its line gone (silence: the status goes stale after 2 s);
 * - SIGCONT after a 4 s stop -> its line back (the master still knows the peer);
 * - SIGCONT after a 10 s stop -> its line back (past the 7 s after which the master forgets a
 *   silent peer, so it must be discovered and verified again).
 * Agents run with their defaults: heartbeat 500 ms, status timeout 2 s, mDNS query every 2 s.
 */
import { availableParallelism } from 'node:os'
import type { Host } from '../test/lan/harness/host.ts'
import { createLan } from '../test/lan/harness/lan.ts'
import { waitFor } from '../test/lan/harness/wait-for.ts'
import { makeMeshKey, readOr, startBuilder, startMaster, type RunningAgent } from '../test/lan/support/mesh.ts'
import { loadAverage } from './load-average.ts'

const SAMPLES = 5
const POLL_MS = 5
const SHORT_STOP_MS = 4000
const LONG_STOP_MS = 10_000

function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Milliseconds until the Nix file does (or no longer does) hold a line for `host`. */
async function msUntilListed (nixFile: string, host: Host, want: boolean, timeoutMs = 20_000): Promise<number> {
  const line = `ssh-ng://root@${host.address} `
  const start = performance.now()
  for (;;) {
    if ((await readOr(nixFile)).includes(line) === want) return Math.round(performance.now() - start)
    if (performance.now() - start > timeoutMs) throw new Error(`${host.name} still ${want ? 'missing from' : 'in'} ${nixFile} after ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/** How many times the master has forgotten b1 for silence on mDNS. */
function expiries (masterOutput: string): number {
  return masterOutput.split('\n').filter((l) => l.includes('"msg":"peer down"') && l.includes('"peer":"b1"') && l.includes('"why":"expired"')).length
}

async function main (): Promise<void> {
  const loadBefore = await loadAverage()
  const lan = await createLan({ hosts: ['m', 'b1', 'b2'] })
  try {
    const [m, b1, b2] = [lan.host('m'), lan.host('b1'), lan.host('b2')]
    const meshKey = await makeMeshKey(lan)
    const master = await startMaster(m, { meshKey })
    const other = await startBuilder(b2, { meshKey })
    const startB1 = async (): Promise<RunningAgent> => {
      const agent = await startBuilder(b1, { meshKey })
      await msUntilListed(master.nixFile, b1, true)
      await msUntilListed(master.nixFile, b2, true)
      return agent
    }
    const rows: Record<string, number[]> = {
      'SIGKILL -> line gone': [],
      'SIGSTOP -> line gone': [],
      [`SIGCONT after ${SHORT_STOP_MS / 1000} s stop -> line back`]: [],
      [`SIGCONT after ${LONG_STOP_MS / 1000} s stop -> line back`]: []
    }
    const [kill, stop, contShort, contLong] = Object.values(rows) as [number[], number[], number[], number[]]

    for (let i = 1; i <= SAMPLES; i++) {
      const agent = await startB1()
      agent.process.kill('SIGKILL')
      kill.push(await msUntilListed(master.nixFile, b1, false))
      await agent.process.exited
      process.stderr.write(`SIGKILL sample ${i}: ${kill.at(-1)} ms\n`)
    }

    const agent = await startB1()
    let expired = expiries(master.process.output())
    for (const [stopMs, back] of [[SHORT_STOP_MS, contShort], [LONG_STOP_MS, contLong]] as const) {
      for (let i = 1; i <= SAMPLES; i++) {
        // A fresh status stream each time: the first stop must not start mid-heartbeat more often than later ones.
        await new Promise((resolve) => setTimeout(resolve, 1000 + Math.random() * 500))
        agent.process.kill('SIGSTOP')
        const gone = await msUntilListed(master.nixFile, b1, false)
        if (back === contShort) stop.push(gone)
        await new Promise((resolve) => setTimeout(resolve, stopMs - gone))
        agent.process.kill('SIGCONT')
        back.push(await msUntilListed(master.nixFile, b1, true))
        const forgotten = expiries(master.process.output()) - expired
        expired += forgotten
        process.stderr.write(`SIGSTOP ${stopMs / 1000} s sample ${i}: gone ${gone} ms, back ${back.at(-1)} ms after SIGCONT${forgotten > 0 ? ' (the master had forgotten it)' : ''}\n`)
      }
    }
    await waitFor(async () => (await readOr(master.nixFile)).includes(`@${b2.address} `), { what: 'b2 still listed' })

    const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
    const lines = [
      `liveness bench: master's Nix file polled every ${POLL_MS} ms, ${SAMPLES} samples per row, ${availableParallelism()} cores, 1-min load ${loadBefore} before, ${await loadAverage()} after`,
      '',
      row(['builder agent event', 'median ms', 'min ms', 'max ms', 'samples']),
      row(['---', '---', '---', '---', '---']),
      ...Object.entries(rows).map(([what, ms]) => row([what, String(median(ms)), String(Math.min(...ms)), String(Math.max(...ms)), String(ms.length)]))
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    await agent.stop()
    await other.stop()
    await master.stop()
  } finally {
    await lan.close()
  }
}

await main()
