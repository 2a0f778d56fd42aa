import { access, readFile } from 'node:fs/promises'
import type { Clock } from '../common/clock.ts'
import { remainingSeconds } from './reservations.ts'

// A store path as Nix prints it: the store, 32 base-32 characters, a name.
const DRV_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}\.drv$/
// `Derive([("out","/nix/store/...","",""),...` : the outputs come first in a .drv's ATerm.
const OUTPUT = /\("[A-Za-z0-9_-]+","(\/nix\/store\/[^"]+)","[^"]*","[^"]*"\)/g

export function isDrvPath (path: string): boolean {
  return DRV_PATH.test(path)
}

/** The output paths a derivation will produce, or none when they are not fixed in advance. */
export async function derivationOutputs (drvPath: string): Promise<string[]> {
  const text = await readFile(drvPath, 'utf8')
  const head = text.slice(0, text.indexOf(')],') + 1)
  return [...head.matchAll(OUTPUT)].map((m) => m[1] ?? '').filter((p) => p !== '')
}

async function exists (path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

export interface LocalBuildsDeps {
  clock: Clock
  outputsOf?: (drvPath: string) => Promise<string[]>
  exists?: (path: string) => Promise<boolean>
  /** Told when a build's outputs appeared, with its wall time: what the history learns from. */
  onDone?: (build: LocalBuild, seconds: number) => void
}

/** What the planner knew when it kept a build local. */
export interface LocalBuild {
  name: string
  /** Work per second the master was expected to give it. */
  rate: number
  work: number | undefined
}

interface Running extends LocalBuild { at: number, outputs: string[] }

/**
 * The builds the master told Nix to run locally and that have not finished. Nix asks about a
 * whole batch of ready derivations, willing to build each locally, before it starts any: without
 * this count every one of them would stay local and the builders would get no overflow. A build
 * is over when its outputs are in the store; one whose outputs never appear (it failed) stops
 * counting after `maxAgeMs`.
 */
export class LocalBuilds {
  private readonly clock: Clock
  private readonly outputsOf: (drvPath: string) => Promise<string[]>
  private readonly exists: (path: string) => Promise<boolean>
  private readonly maxAgeMs: number
  private readonly onDone: (build: LocalBuild, seconds: number) => void
  private readonly builds = new Map<string, Running>()
  private timer: unknown

  constructor (deps: LocalBuildsDeps, maxAgeMs = 30 * 60_000) {
    this.clock = deps.clock
    this.outputsOf = deps.outputsOf ?? derivationOutputs
    this.exists = deps.exists ?? exists
    this.onDone = deps.onDone ?? (() => {})
    this.maxAgeMs = maxAgeMs
  }

  /** Looks for finished builds every second, so their wall time is not stretched to the next decision. */
  start (): void {
    if (this.timer !== undefined) return
    this.timer = this.clock.setInterval(() => { void this.running('') }, 1000)
  }

  stop (): void {
    if (this.timer === undefined) return
    this.clock.clearInterval(this.timer)
    this.timer = undefined
  }

  /** Local builds still running, not counting `drvPath` itself (Nix may ask about it again). */
  async running (drvPath: string): Promise<number> {
    const now = this.clock.now()
    for (const [drv, build] of [...this.builds]) {
      const done = build.outputs.length > 0 && (await Promise.all(build.outputs.map(this.exists))).every(Boolean)
      if (done) this.onDone(build, (now - build.at) / 1000)
      if (done || build.at < now - this.maxAgeMs) this.builds.delete(drv)
    }
    return [...this.builds.keys()].filter((drv) => drv !== drvPath).length
  }

  /** Seconds until each local build with known work should end. */
  endsIn (): number[] {
    return remainingSeconds([...this.builds.values()], this.clock.now())
  }

  async add (drvPath: string, build: LocalBuild): Promise<void> {
    if (this.builds.has(drvPath)) return
    const outputs = await this.outputsOf(drvPath).catch(() => [])
    this.builds.set(drvPath, { ...build, at: this.clock.now(), outputs })
  }

  remove (drvPath: string): void {
    this.builds.delete(drvPath)
  }
}
