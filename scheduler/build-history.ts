/**
 * How much work builds of each derivation name took before: seconds on one core of a speed-1
 * machine (wall time × the rate the machine gave it). Names repeat across rebuilds of the same
 * package (`hello-2.12.1`), so this is what lets the planner tell a long build from a short one.
 */
export class BuildHistory {
  private readonly work = new Map<string, number>()
  private readonly maxNames: number
  /** The median, kept until the next record: the planner asks for it on every build. */
  private median: number | undefined
  /** Changes since the history was last saved. */
  changed = false

  /** `maxNames` bounds memory; the oldest name goes first. */
  constructor (maxNames = 20_000) {
    this.maxNames = maxNames
  }

  /** The name Nix builds under: the .drv file name without its hash and extension. */
  static nameOf (drvPath: string): string {
    return drvPath.replace(/^.*\/[0-9a-z]{32}-/, '').replace(/\.drv$/, '')
  }

  record (name: string, work: number): void {
    if (!Number.isFinite(work) || work < 0) return
    const before = this.work.get(name)
    this.work.delete(name)
    // Halfway to the new value: one odd build (a cold cache, a busy builder) does not take over.
    this.work.set(name, before === undefined ? work : (before + work) / 2)
    if (this.work.size > this.maxNames) this.work.delete(this.work.keys().next().value as string)
    this.median = undefined
    this.changed = true
  }

  /** Oldest first, as `record` would rebuild it. */
  entries (): Array<[string, number]> {
    return [...this.work.entries()]
  }

  expected (name: string): number | undefined {
    return this.work.get(name)
  }

  /** The median work over every name: what to assume for a name never built. */
  typical (): number | undefined {
    if (this.median === undefined && this.work.size > 0) {
      const sorted = [...this.work.values()].sort((a, b) => a - b)
      const mid = sorted.length >> 1
      this.median = sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
    }
    return this.median
  }
}
