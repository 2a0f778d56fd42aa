import { isBigParallel, type Derivation } from './graph.ts'
import type { Machine } from './machines.ts'

/** Seconds a remote build spends copying inputs there and outputs back, the same for every policy. */
export const TRANSFER_SECONDS = 0.3

/** A `big-parallel` build runs `make -j` on every core, but stops getting faster past this many. */
export const BIG_PARALLEL_CORES = 8

/** Cores one build of `d` keeps busy on `m`. */
export const threadsFor = (d: Derivation, m: Machine): number => isBigParallel(d) ? Math.min(m.cores, BIG_PARALLEL_CORES) : 1

/** The fastest `d` can run on `m`: alone there, no copying. */
export const aloneSeconds = (d: Derivation, m: Machine): number => d.work / (m.speed * threadsFor(d, m))

export interface Build {
  drv: Derivation
  machine: Machine
  startedAt: number
  /** Remote builds copy their inputs first and use no CPU until then. */
  computeFrom: number
  threads: number
  /** Work left, in the units of `Derivation.work`. */
  remaining: number
}

const DONE = 1e-9

/**
 * What runs where, and how fast. CPU-bound builds share a machine's cores: each build wants
 * `threads` cores, and when the builds there want more than it has, all slow down in proportion.
 */
export class Pool {
  private readonly byMachine = new Map<string, Build[]>()

  constructor (machines: Machine[]) {
    for (const m of machines) this.byMachine.set(m.name, [])
  }

  builds (m: Machine): Build[] {
    return this.byMachine.get(m.name) ?? []
  }

  get size (): number {
    let n = 0
    for (const list of this.byMachine.values()) n += list.length
    return n
  }

  start (drv: Derivation, m: Machine, now: number): void {
    const list = this.builds(m)
    if (list.length >= m.slots) throw new Error(`${drv.name} sent to ${m.name}, whose ${m.slots} slots are all in use`)
    const computeFrom = m.local ? now : now + TRANSFER_SECONDS
    list.push({ drv, machine: m, startedAt: now, computeFrom, threads: threadsFor(drv, m), remaining: drv.work })
  }

  /** Busy cores over cores, capped at 1: what a builder's load average over its cores shows. */
  load (m: Machine, now: number): number {
    return Math.min(1, this.demand(m, now) / m.cores)
  }

  /** When the next build finishes or starts computing, if anything runs. */
  nextEvent (now: number): number {
    let next = Infinity
    for (const list of this.byMachine.values()) {
      for (const b of list) {
        next = Math.min(next, b.computeFrom > now ? b.computeFrom : now + b.remaining / this.rate(b, now))
      }
    }
    return next
  }

  /** Runs every build from `now` to `to` (no start or finish in between) and removes the finished ones. */
  advance (now: number, to: number): Build[] {
    const finished: Build[] = []
    for (const [name, list] of this.byMachine) {
      const rates = list.map((b) => b.computeFrom <= now ? this.rate(b, now) : 0)
      list.forEach((b, i) => { b.remaining -= (rates[i] as number) * (to - now) })
      const done = list.filter((b) => b.computeFrom <= to && b.remaining <= DONE * Math.max(1, b.drv.work))
      if (done.length > 0) this.byMachine.set(name, list.filter((b) => !done.includes(b)))
      finished.push(...done)
    }
    return finished
  }

  private demand (m: Machine, now: number): number {
    return this.builds(m).reduce((sum, b) => sum + (b.computeFrom <= now ? b.threads : 0), 0)
  }

  private rate (b: Build, now: number): number {
    return b.machine.speed * b.threads * Math.min(1, b.machine.cores / this.demand(b.machine, now))
  }
}
