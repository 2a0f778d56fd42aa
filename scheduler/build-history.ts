import { storeName } from './derivation.ts'

/**
 * How much work builds of each derivation name took before: seconds on one core of a speed-1
 * machine (wall time × the rate the machine gave it). Names repeat across rebuilds of the same
 * package (`hello-2.12.1`), so this is what lets the planner tell a long build from a short one.
 */
export class BuildHistory {
  private readonly work = new Map<string, number>()
  /** Names built as `big-parallel`: a typical one of those is far from a typical build. */
  private readonly bigParallel = new Set<string>()
  private readonly maxNames: number
  /** The medians, kept until the next record: the planner asks for them on every build. */
  private median: number | undefined
  private bigParallelMedian: number | undefined
  /** Changes since the history was last saved. */
  changed = false

  /** `maxNames` bounds memory; the oldest name goes first. */
  constructor (maxNames = 20_000) {
    this.maxNames = maxNames
  }

  /** The name Nix builds under: the .drv file name without its hash and extension. */
  static nameOf (drvPath: string): string {
    return storeName(drvPath).replace(/\.drv$/, '')
  }

  record (name: string, work: number, bigParallel = false): void {
    if (!Number.isFinite(work) || work < 0) return
    const before = this.work.get(name)
    this.work.delete(name)
    // Halfway to the new value: one odd build (a cold cache, a busy builder) does not take over.
    this.work.set(name, before === undefined ? work : (before + work) / 2)
    if (bigParallel) this.bigParallel.add(name)
    else this.bigParallel.delete(name)
    if (this.work.size > this.maxNames) {
      const oldest = this.work.keys().next().value as string
      this.work.delete(oldest)
      this.bigParallel.delete(oldest)
    }
    this.median = undefined
    this.bigParallelMedian = undefined
    this.changed = true
  }

  /** Oldest first, as `record` would rebuild it: name, work, and whether it was `big-parallel`. */
  entries (): Array<[string, number, boolean]> {
    return [...this.work.entries()].map(([name, work]) => [name, work, this.bigParallel.has(name)])
  }

  expected (name: string): number | undefined {
    return this.work.get(name)
  }

  /** The median work over every name: what to assume for a name never built. */
  typical (): number | undefined {
    this.median ??= median([...this.work.values()])
    return this.median
  }

  /** The median work over the `big-parallel` names: what to assume for such a name never built. */
  typicalBigParallel (): number | undefined {
    this.bigParallelMedian ??= median([...this.bigParallel].map((name) => this.work.get(name) as number))
    return this.bigParallelMedian
  }
}

function median (values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = values.sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
