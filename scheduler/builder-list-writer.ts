import { writeFileAtomic } from '../common/atomic-file.ts'
import type { Logger } from '../common/logger.ts'
import { eligibleBuilders, type EligibilityPolicy } from './eligibility.ts'
import { renderGuixMachines } from './guix-machines.ts'
import { renderNixMachines } from './nix-machines.ts'
import type { PeerTable } from './peer-table.ts'

export interface BuilderListWriterComponents {
  table: PeerTable
  log: Logger
}

export interface BuilderListWriterInit {
  nixMachinesPath?: string | undefined
  guixMachinesPath?: string | undefined
  /** The private key the lists tell Nix and Guix to log in with. */
  sshKeyPath: string
  overloadThreshold: number
  policy: EligibilityPolicy
}

/**
 * Keeps the Nix machines file and Guix machines.scm in step with the peer table. Writes are
 * atomic and only happen when the rendered text changes, so a reader never sees a partial
 * file and an unchanged mesh never touches the disk.
 */
export class BuilderListWriter {
  private readonly components: BuilderListWriterComponents
  private readonly init: BuilderListWriterInit
  private pending: Promise<void> = Promise.resolve()
  private dirty = false
  private running = false
  private readonly onChange = (): void => { this.schedule() }

  constructor (components: BuilderListWriterComponents, init: BuilderListWriterInit) {
    this.components = components
    this.init = init
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.components.table.on('change', this.onChange)
    this.schedule()
    await this.flushed()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.components.table.removeListener('change', this.onChange)
    await this.pending
  }

  /** Resolves once every change seen so far is on disk. */
  async flushed (): Promise<void> {
    await this.pending
  }

  private schedule (): void {
    if (this.dirty) return
    this.dirty = true
    // Coalesce a burst of table changes into one render, after those already queued.
    this.pending = this.pending.then(async () => {
      await new Promise<void>((resolve) => { setImmediate(resolve) })
      this.dirty = false
      await this.write()
    })
  }

  private async write (): Promise<void> {
    const { table, log } = this.components
    const { nixMachinesPath, guixMachinesPath, sshKeyPath, overloadThreshold, policy } = this.init
    const builders = eligibleBuilders(table.list(), policy)
    const names = builders.map((b) => b.advertisement.name)
    try {
      if (nixMachinesPath !== undefined &&
        await writeFileAtomic(nixMachinesPath, renderNixMachines(builders, { sshKeyPath }))) {
        log.info({ path: nixMachinesPath, builders: names }, 'wrote Nix machines file')
      }
      if (guixMachinesPath !== undefined &&
        await writeFileAtomic(guixMachinesPath, renderGuixMachines(builders, { sshKeyPath, overloadThreshold }))) {
        log.info({ path: guixMachinesPath, builders: names }, 'wrote Guix machines file')
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'writing builder lists failed')
    }
  }
}
