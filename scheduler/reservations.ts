import { randomUUID } from 'node:crypto'
import type { Clock } from '../common/clock.ts'

/**
 * Builds the master has sent to a builder and not yet heard the end of. A builder's own count
 * of running builds lags by a heartbeat, so without these two quick requests would both see
 * the same free slot.
 */
export class Reservations {
  private readonly clock: Clock
  private readonly maxAgeMs: number
  private readonly byId = new Map<string, { peer: string, at: number }>()

  /**
   * A reservation only has to bridge the time until the builder's own count shows the build
   * (a heartbeat after the SSH session starts); past `maxAgeMs` that count is the truth, and a
   * hook killed before it could release holds nothing.
   */
  constructor (clock: Clock, maxAgeMs = 15_000) {
    this.clock = clock
    this.maxAgeMs = maxAgeMs
  }

  reserve (peer: string): string {
    const id = randomUUID()
    this.byId.set(id, { peer, at: this.clock.now() })
    return id
  }

  release (id: string): boolean {
    return this.byId.delete(id)
  }

  count (peer: string): number {
    const cutoff = this.clock.now() - this.maxAgeMs
    let n = 0
    for (const [id, r] of this.byId) {
      if (r.at < cutoff) this.byId.delete(id)
      else if (r.peer === peer) n++
    }
    return n
  }
}
