import type { Clock } from '../../common/clock.ts'

interface Timer { at: number, fn: () => void, every: number | null }

/** A clock that only moves when the test says so. */
export class ManualClock implements Clock {
  private time: number
  private readonly timers = new Map<number, Timer>()
  private nextId = 1

  constructor (start = 1_700_000_000_000) {
    this.time = start
  }

  now = (): number => this.time

  setTimeout = (fn: () => void, ms: number): unknown => this.add(fn, ms, null)
  setInterval = (fn: () => void, ms: number): unknown => this.add(fn, ms, ms)
  clearTimeout = (handle: unknown): void => { this.timers.delete(handle as number) }
  clearInterval = (handle: unknown): void => { this.timers.delete(handle as number) }

  /** Moves time forward, firing due timers in order. */
  advance (ms: number): void {
    const end = this.time + ms
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0]
      if (due === undefined) break
      const [id, timer] = due
      this.time = timer.at
      if (timer.every === null) this.timers.delete(id)
      else timer.at += timer.every
      timer.fn()
    }
    this.time = end
  }

  get pending (): number {
    return this.timers.size
  }

  private add (fn: () => void, ms: number, every: number | null): number {
    const id = this.nextId++
    this.timers.set(id, { at: this.time + ms, fn, every })
    return id
  }
}
