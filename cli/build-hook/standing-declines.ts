import { goalKey } from '../../scheduler/derivation.ts'

/** How long the agent's answers in advance hold: a round of a thousand answers takes a tenth of that. */
const VALID_FOR_MS = 1000

/**
 * The agent's answers in advance for the rest of a round of Nix's questions (`forecastDeclines`):
 * builds to tell to keep waiting without asking it, each at most once. Nix asks a round's
 * builds in the order of their goals and with one amWilling, so a request that comes before
 * the last one asked, or with another amWilling, starts a new round, where anything may have
 * changed: a build ended, or a slot freed. Then, and after `VALID_FOR_MS`, the hook asks again.
 */
export class StandingDeclines {
  private readonly now: () => number
  private declines = new Set<string>()
  private amWilling = false
  private since = -Infinity
  private lastKey = ''
  private answeredAt: number | undefined
  private served: string[] = []

  /** `now` in milliseconds. */
  constructor (now: () => number) {
    this.now = now
  }

  /** Nix asks about `drvPath`: true if the hook may tell it to keep waiting itself. */
  serves (drvPath: string, amWilling: boolean): boolean {
    const key = goalKey(drvPath)
    const sameRound = key > this.lastKey && amWilling === this.amWilling && this.now() - this.since < VALID_FOR_MS
    this.lastKey = key
    if (!sameRound || !this.declines.delete(drvPath)) {
      this.declines.clear()
      return false
    }
    // At most what the agent answered ahead, which is at most what it takes as served.
    this.served.push(drvPath)
    return true
  }

  /**
   * The agent's answer to the request just asked, with what it answered ahead for the same
   * round, and when by its clock: the builds served are reported as answered then.
   */
  replace (declines: readonly string[], amWilling: boolean, answeredAt: number | undefined): void {
    this.declines = new Set(declines)
    this.amWilling = amWilling
    this.since = this.now()
    this.answeredAt = answeredAt
  }

  /** The builds told to keep waiting since the agent last heard, and when it answered them; emptied. */
  takeServed (): { drvPaths: string[], answeredAt: number | undefined } {
    const served = { drvPaths: this.served, answeredAt: this.answeredAt }
    this.served = []
    return served
  }
}
