import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../common/atomic-file.ts'
import type { Clock } from '../common/clock.ts'
import type { Logger } from '../common/logger.ts'
import type { BuildHistory } from './build-history.ts'

const NAME = /^[A-Za-z0-9+\-._?=]{1,211}$/

/**
 * Keeps the build history in the state directory, so a restarted master still knows which
 * builds are long. A missing file is a fresh start; a damaged one is logged and replaced, since
 * the history is only a hint.
 */
export class BuildHistoryFile {
  private readonly components: { history: BuildHistory, clock: Clock, log: Logger }
  private readonly path: string
  private readonly saveEveryMs: number
  private timer: unknown

  constructor (components: { history: BuildHistory, clock: Clock, log: Logger }, init: { path: string, saveEveryMs?: number }) {
    this.components = components
    this.path = init.path
    this.saveEveryMs = init.saveEveryMs ?? 30_000
  }

  async start (): Promise<void> {
    if (this.timer !== undefined) return
    await this.load()
    this.timer = this.components.clock.setInterval(() => { void this.save() }, this.saveEveryMs)
  }

  async stop (): Promise<void> {
    if (this.timer === undefined) return
    this.components.clock.clearInterval(this.timer)
    this.timer = undefined
    await this.save()
  }

  private async load (): Promise<void> {
    const { history, log } = this.components
    let text: string
    try {
      text = await readFile(this.path, 'utf8')
    } catch {
      return
    }
    try {
      const entries: unknown = JSON.parse(text)
      if (!Array.isArray(entries)) throw new Error('not a list')
      for (const entry of entries) {
        // Files written before the third field have none: those builds count as ordinary ones.
        const [name, work, bigParallel] = Array.isArray(entry) ? entry as unknown[] : []
        if (typeof name === 'string' && NAME.test(name) && typeof work === 'number') history.record(name, work, bigParallel === true)
      }
      history.changed = false
    } catch (err) {
      log.warn({ path: this.path, err: (err as Error).message }, 'build history unreadable: starting afresh')
    }
  }

  private async save (): Promise<void> {
    const { history, log } = this.components
    if (!history.changed) return
    history.changed = false
    try {
      const entries = history.entries().map(([name, work, bigParallel]) => bigParallel ? [name, work, true] : [name, work])
      await writeFileAtomic(this.path, `${JSON.stringify(entries)}\n`, { mode: 0o600 })
    } catch (err) {
      history.changed = true
      log.warn({ path: this.path, err: (err as Error).message }, 'saving the build history failed')
    }
  }
}
