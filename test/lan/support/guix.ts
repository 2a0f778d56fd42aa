import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GUIX_MACHINES_LOADER } from '../../support/guix-loader.ts'
import type { Host } from '../harness/host.ts'


export interface GuixMachine {
  name: string
  port: number
  systems: string[]
  'host-key': string
  user: string
  'private-key': string
  'parallel-builds': number
  speed: { real: number }
  features: string[]
  'overload-threshold': { real: number } | false
}

/** Loads a machines.scm with real Guile, in `host`, the way `guix offload` does (primitive-load). */
export async function loadGuixMachines (host: Host, file: string): Promise<GuixMachine[]> {
  const loader = join(host.dir, 'guix-loader.scm')
  await writeFile(loader, GUIX_MACHINES_LOADER)
  const { stdout } = await host.run('guile', ['--no-auto-compile', '-s', loader, file], { timeoutMs: 30_000 })
  return JSON.parse(stdout) as GuixMachine[]
}
