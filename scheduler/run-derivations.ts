import type { Clock } from '../common/clock.ts'
import { UsageError } from '../common/errors.ts'
import { isDrvPath } from './derivation.ts'
import type { NixRun } from './nix-run.ts'
import { MAX_ROOTS_PER_PIECE } from '../wire/control.ts'

/**
 * A piece of a run's temporary roots file (`/nix/var/nix/temproots/<pid>`), as the build hook
 * sends it: Nix adds every derivation of the run there before it builds any, NUL after each, and
 * only ever appends. `paths` are the derivations among the roots in bytes [from, to); the file
 * was `size` bytes long when the hook read it.
 */
export interface RunRootsChunk {
  /** Which file: its device and inode, as a pid names another run once it is reused. */
  file: string
  size: number
  from: number
  to: number
  paths: string[]
}

interface Run { file: string, held: number, size: number, derivations: Set<string>, seenAt: number }

/**
 * The derivations each run of Nix builds, from its temporary roots. The store's referrers of a
 * derivation also name .drv files of older evaluations that were never built; only the run's own
 * wait for its build, so a chain counts only those once the whole file has come.
 */
export class RunDerivations {
  private readonly clock: Clock
  private readonly runs = new Map<NixRun, Run>()
  private readonly maxRuns: number
  private readonly forgetAfterMs: number
  private readonly maxDerivations: number

  constructor (clock: Clock, init: { maxRuns?: number, forgetAfterMs?: number, maxDerivations?: number } = {}) {
    this.clock = clock
    this.maxRuns = init.maxRuns ?? 64
    this.forgetAfterMs = init.forgetAfterMs ?? 30 * 60_000
    this.maxDerivations = init.maxDerivations ?? 1_000_000
  }

  /**
   * Takes a chunk that continues what is held, if the hook sent one, and says how many bytes of
   * the file are held now: 0 for a run forgotten meanwhile, which has the hook send it all again.
   */
  add (nixRun: NixRun, chunk: unknown): number {
    const now = this.clock.now()
    for (const [key, run] of this.runs) if (run.seenAt < now - this.forgetAfterMs) this.runs.delete(key)
    if (chunk === undefined) {
      const known = this.runs.get(nixRun)
      if (known !== undefined) known.seenAt = now
      return known?.held ?? 0
    }
    const c = parseChunk(chunk)
    this.makeRoomFor(nixRun)
    const known = this.runs.get(nixRun)
    const run = known !== undefined && known.file === c.file ? known : { file: c.file, held: 0, size: 0, derivations: new Set<string>(), seenAt: now }
    run.seenAt = now
    run.size = Math.max(run.size, c.size)
    // A chunk from elsewhere in the file (a hook that knew an older count) is not used.
    if (c.from === run.held && run.derivations.size + c.paths.length <= this.maxDerivations) {
      for (const p of c.paths) run.derivations.add(p)
      run.held = c.to
    }
    this.runs.set(nixRun, run)
    return run.held
  }

  /** The derivations of run `nixRun`, once the agent holds all of its roots the hook last saw; else undefined. */
  of (nixRun: NixRun | undefined): ReadonlySet<string> | undefined {
    const run = nixRun === undefined ? undefined : this.runs.get(nixRun)
    return run !== undefined && run.held >= run.size && run.derivations.size > 0 ? run.derivations : undefined
  }

  /** Forgets the run heard from longest ago if `coming` would be one too many. */
  private makeRoomFor (coming: NixRun): void {
    if (this.runs.has(coming) || this.runs.size < this.maxRuns) return
    const oldest = [...this.runs].sort((a, b) => a[1].seenAt - b[1].seenAt)[0]
    if (oldest !== undefined) this.runs.delete(oldest[0])
  }
}

function parseChunk (value: unknown): RunRootsChunk {
  if (typeof value !== 'object' || value === null) throw new UsageError('runRoots must be an object')
  const { file, size, from, to, paths } = value as Record<string, unknown>
  if (typeof file !== 'string' || !/^\d{1,20}:\d{1,20}$/.test(file)) throw new UsageError('runRoots.file must be a device and inode')
  const offset = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new UsageError(`runRoots.${name} must be a byte offset`)
    return v
  }
  const c = { size: offset(size, 'size'), from: offset(from, 'from'), to: offset(to, 'to') }
  if (c.from > c.to || c.to > c.size) throw new UsageError('runRoots must have from <= to <= size')
  if (!Array.isArray(paths) || paths.length > MAX_ROOTS_PER_PIECE || !paths.every((p) => typeof p === 'string' && isDrvPath(p))) {
    throw new UsageError(`runRoots.paths must be at most ${MAX_ROOTS_PER_PIECE} derivation paths`)
  }
  return { ...c, file, paths: paths as string[] }
}
