import { readFile } from 'node:fs/promises'

/** The machine's 1-minute load average: other work on a 2-core machine skews every number a bench prints. */
export async function loadAverage (): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ')[0] ?? '?'
}
