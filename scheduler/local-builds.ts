import type { Clock } from '../common/clock.ts'
import { derivationOutputs, storePathExists } from './derivation.ts'
import { nixRunAlive, sameRun, type NixRun } from './nix-run.ts'
import { outputLocks, type OutputsLocked } from './output-locks.ts'
import { chainsEnd, remainingSeconds } from './reservations.ts'

export interface LocalBuildsDeps {
  clock: Clock
  outputsOf?: (drvPath: string) => Promise<string[]>
  exists?: (path: string) => Promise<boolean>
  /** Told when a build's outputs appeared, with its wall time: what the history learns from. */
  onDone?: (build: LocalBuild, seconds: number) => void
  /** Whether a run of Nix is still there (`nixRunAlive`): an ended run's builds are over. */
  runAlive?: (run: NixRun) => boolean
  /** Whether Nix holds a build's output locks (`outputLocks`): a failed build's are let go. */
  outputsLocked?: OutputsLocked
}

/** What the planner knew when it kept a build local. */
export interface LocalBuild {
  name: string
  /** Work per second the master was expected to give it. */
  rate: number
  /** The work to expect its end from (`runningWork`), if any. */
  work: number | undefined
  /** Seconds the chain of builds waiting for it takes once it ends (BuildRequest.chainAfter). */
  chainAfter?: number
  /** Built as `big-parallel`: the history keeps those apart. */
  bigParallel?: boolean
  /** The run of Nix that builds it: its slots are that run's max-jobs. */
  nixRun?: NixRun
}

interface Running extends LocalBuild { at: number, outputs: string[] }

/**
 * The builds the master told Nix to run locally and that have not finished. Nix asks about a
 * whole batch of ready derivations, willing to build each locally, before it starts any: without
 * this count every one of them would stay local and the builders would get no overflow. A build
 * is over when its outputs are in the store, when Nix no longer holds their locks (it failed, in
 * a run that goes on: --keep-going), or when its run of Nix has ended; one that none of these
 * shows (its outputs are not known in advance) stops counting after `maxAgeMs`.
 */
export class LocalBuilds {
  private readonly clock: Clock
  private readonly outputsOf: (drvPath: string) => Promise<string[]>
  private readonly exists: (path: string) => Promise<boolean>
  private readonly maxAgeMs: number
  private readonly onDone: (build: LocalBuild, seconds: number) => void
  private readonly runAlive: (run: NixRun) => boolean
  private readonly outputsLocked: OutputsLocked
  private readonly builds = new Map<string, Running>()
  private timer: unknown

  constructor (deps: LocalBuildsDeps, maxAgeMs = 30 * 60_000) {
    this.clock = deps.clock
    this.outputsOf = deps.outputsOf ?? derivationOutputs
    this.exists = deps.exists ?? storePathExists
    this.onDone = deps.onDone ?? (() => {})
    this.runAlive = deps.runAlive ?? nixRunAlive
    this.outputsLocked = deps.outputsLocked ?? outputLocks()
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

  /**
   * Local builds of run `nixRun` still running, not counting `drvPath` itself (Nix may ask about
   * it again). Every finished one is reported, whatever its run.
   */
  async running (drvPath: string, nixRun?: NixRun): Promise<number> {
    const now = this.clock.now()
    const builds = [...this.builds]
    const done = await Promise.all(builds.map(async ([, b]) => b.outputs.length > 0 && (await Promise.all(b.outputs.map(this.exists))).every(Boolean)))
    // One look at the locks for all: a build whose outputs are not there and whose locks Nix let go of failed.
    const unfinished = builds.filter(([, b], i) => done[i] !== true && b.outputs.length > 0)
    const locked = await this.outputsLocked(unfinished.map(([, b]) => b.outputs))
    const failed = new Set(unfinished.filter((_, i) => locked[i] === false).map(([drv]) => drv))
    builds.forEach(([drv, build], i) => {
      // Another look, meanwhile, may have reported it already.
      if (this.builds.get(drv) !== build) return
      if (done[i] === true) this.onDone(build, (now - build.at) / 1000)
      const ended = (build.nixRun !== undefined && !this.runAlive(build.nixRun)) || failed.has(drv)
      if (done[i] === true || ended || build.at < now - this.maxAgeMs) this.builds.delete(drv)
    })
    return [...this.builds].filter(([drv, b]) => drv !== drvPath && sameRun(b.nixRun, nixRun)).length
  }

  /** Seconds until each local build of run `nixRun` with known work should end: when its slots free. */
  endsIn (nixRun?: NixRun): number[] {
    return remainingSeconds([...this.builds.values()].filter((b) => sameRun(b.nixRun, nixRun)), this.clock.now())
  }

  /** Every run's local builds still running but `drvPath`: they share the master's cores. */
  all (drvPath: string): LocalBuild[] {
    return [...this.builds].filter(([drv]) => drv !== drvPath).map(([, b]) => b)
  }

  /** Seconds until local builds, and the chains waiting for them, should end (`chainsEnd`). */
  chainsEndIn (): number | undefined {
    return chainsEnd([...this.builds.values()], this.clock.now())
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
