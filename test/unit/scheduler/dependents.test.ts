import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { readDerivation } from '../../../scheduler/derivation.ts'
import { chainAfter, nixStoreReferrers, StoreDependents, type PendingDependents } from '../../../scheduler/dependents.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

// A bootstrap in miniature: gcc waits for binutils and builds the compiler (big-parallel) that
// the profile waits for; docs only wait for binutils.
const NIX = `let
  mk = name: inputs: extra: derivation ({ inherit name inputs; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // extra);
  binutils = mk "binutils" [ ] { };
  gcc = mk "gcc" [ binutils ] { requiredSystemFeatures = [ "big-parallel" ]; };
  libc = mk "libc" [ gcc ] { };
  docs = mk "docs" [ binutils ] { };
in mk "profile" [ libc docs ] { }
`

const name = (p: string): string => p.replace(/^\/nix\/store\/[a-z0-9]{32}-/, '').replace(/\.drv$/, '')

describe('StoreDependents, on a store the real nix-instantiate filled', () => {
  let dir: string
  let drvOf: Map<string, string>
  let store: string[]
  let dependents: (over?: { exists?: (p: string) => Promise<boolean>, maxDependents?: number, maxCached?: number, maxBackgroundQueries?: number, queries?: string[], clock?: ManualClock }) => StoreDependents

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-dependents-'))
    await writeFile(join(dir, 'profile.nix'), NIX)
    store = ['--store', join(dir, 'store')]
    const { stdout } = await promisify(execFile)('nix-instantiate', [...store, join(dir, 'profile.nix')])
    const { stdout: all } = await promisify(execFile)('nix-store', [...store, '--query', '--requisites', stdout.trim()])
    drvOf = new Map(all.split('\n').filter((l) => l.endsWith('.drv')).map((p) => [name(p), p]))
    dependents = (over = {}) => new StoreDependents({
      log,
      referrers: async (paths) => {
        over.queries?.push(paths.map(name).join(' '))
        return await nixStoreReferrers(store)(paths)
      },
      read: async (p) => await readDerivation(p, (q) => join(dir, 'store', q)),
      exists: over.exists ?? (async () => false),
      clock: over.clock
    }, { maxDependents: over.maxDependents, maxCached: over.maxCached, maxBackgroundQueries: over.maxBackgroundQueries, freshForMs: 60_000 })
  })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  const drv = (n: string): string => drvOf.get(n) as string

  it('finds every derivation still to build that waits for one, and which waits for which', async () => {
    const found = await dependents().of(drv('binutils'))
    expect(found).toBeDefined()
    const users = new Map([...found?.users ?? []].map(([k, v]) => [name(k), v.map(name).sort()]))
    expect(Object.fromEntries(users)).toEqual({ binutils: ['docs', 'gcc'], gcc: ['libc'], libc: ['profile'], docs: ['profile'], profile: [] })
    expect(found?.facts.get(drv('gcc'))?.requiredFeatures).toEqual(['big-parallel'])
    // The chain after binutils: gcc, libc and the profile, not the shorter way through docs.
    const seconds: Record<string, number> = { gcc: 100, libc: 20, docs: 50, profile: 1 }
    expect(chainAfter(drv('binutils'), found?.users ?? new Map(), (u) => seconds[name(u)] ?? 0)).toBe(121)
    expect(chainAfter(drv('profile'), found?.users ?? new Map(), () => 1)).toBe(0)
  })

  it('leaves out dependents already built: their outputs are in the store', async () => {
    const libcOut = (await readDerivation(drv('libc'), (q) => join(dir, 'store', q))).outputs[0]
    const found = await dependents({ exists: async (p) => p === libcOut }).of(drv('gcc'))
    expect([...found?.facts.keys() ?? []].map(name).sort()).toEqual(['profile'])
  })

  it('asks the store once for a derivation and all that waits for it while the answer is fresh, and again after', async () => {
    const queries: string[] = []
    const clock = new ManualClock()
    const cached = dependents({ queries, clock })
    await cached.of(drv('binutils'))
    const gcc = await cached.of(drv('gcc'))
    const again = await cached.of(drv('binutils'))
    // What waits for gcc waits for binutils: the first answer holds gcc's too, the same as its own query.
    expect(queries).toEqual(['binutils'])
    expect(gcc).toEqual(await dependents().of(drv('gcc')))
    expect(chainAfter(drv('binutils'), again?.users ?? new Map(), () => 1)).toBe(3)
    clock.advance(60_000)
    await cached.of(drv('gcc'))
    expect(queries).toEqual(['binutils', 'gcc'])
  })

  it('without waiting for the store, answers at once and reads it for next time, once', async () => {
    const queries: string[] = []
    const later = dependents({ queries })
    const [first, meanwhile, waited] = await Promise.all([
      later.of(drv('binutils'), { waitForStore: false }),
      later.of(drv('binutils'), { waitForStore: false }),
      later.of(drv('binutils'))
    ])
    // Which waits for which, by name: reads end in any order.
    const shape = (d: PendingDependents | undefined): Array<[string, string[]]> | undefined =>
      d === undefined ? undefined : [...d.users].map(([k, v]): [string, string[]] => [name(k), v.map(name).sort()]).sort()
    expect(first).toBeUndefined()
    expect(meanwhile).toBeUndefined()
    expect(shape(waited)).toEqual(shape(await dependents().of(drv('binutils'))))
    expect(shape(await later.of(drv('gcc'), { waitForStore: false }))).toEqual(shape(await dependents().of(drv('gcc'))))
    expect(queries).toEqual(['binutils'])
  })

  it('runs no more queries nobody waits for than it was told to; those asked about meanwhile go together in the next', async () => {
    const queries: string[] = []
    const later = dependents({ queries, maxBackgroundQueries: 1 })
    expect(await later.of(drv('docs'), { waitForStore: false })).toBeUndefined()
    expect(await later.of(drv('libc'), { waitForStore: false })).toBeUndefined()
    expect(await later.of(drv('gcc'), { waitForStore: false })).toBeUndefined()
    expect(queries).toEqual(['docs'])
    await vi.waitFor(async () => { expect(await later.of(drv('gcc'), { waitForStore: false })).toBeDefined() })
    expect(queries).toEqual(['docs', 'libc gcc'])
    // gcc waits for libc's dependents too: one query read both, and which waits for which.
    const shape = (d: PendingDependents | undefined): Record<string, string[]> => Object.fromEntries([...d?.users ?? []].map(([k, v]) => [name(k), v.map(name).sort()]))
    expect(shape(await later.of(drv('gcc')))).toEqual(shape(await dependents().of(drv('gcc'))))
    expect(shape(await later.of(drv('libc')))).toEqual({ libc: ['profile'], profile: [] })
    expect(queries).toEqual(['docs', 'libc gcc'])
  })

  it('leaves out of the next query one that the query before found as a dependent', async () => {
    const queries: string[] = []
    const later = dependents({ queries, maxBackgroundQueries: 1 })
    for (const n of ['gcc', 'libc', 'docs']) expect(await later.of(drv(n), { waitForStore: false })).toBeUndefined()
    // libc waits for gcc: gcc's query read it, so only docs is left to ask.
    await vi.waitFor(() => { expect(queries).toEqual(['gcc', 'docs']) })
    await vi.waitFor(async () => { expect(await later.of(drv('docs'), { waitForStore: false })).toBeDefined() })
    expect(await later.of(drv('libc'), { waitForStore: false })).toBeDefined()
    expect(queries).toEqual(['gcc', 'docs'])
  })

  it('asks one by one when a query for several finds more dependents than it will read', async () => {
    const queries: string[] = []
    const few = dependents({ maxDependents: 1, maxBackgroundQueries: 1, queries })
    await few.of(drv('profile'), { waitForStore: false })
    await few.of(drv('gcc'), { waitForStore: false })
    await few.of(drv('docs'), { waitForStore: false })
    // libc and the profile wait for gcc, the profile for docs: two together, one for docs alone.
    await vi.waitFor(() => { expect(queries).toHaveLength(4) })
    expect(queries).toEqual(['profile', 'gcc docs', 'gcc', 'docs'])
    expect(await few.of(drv('gcc'))).toBeUndefined()
    expect(await few.of(drv('docs'))).toBeDefined()
    expect(queries).toHaveLength(4)
  })

  it('sees a dependent a later evaluation adds once what it read is no longer fresh', async () => {
    // A store of its own: the new dependent must not show in the other tests' answers.
    const own = await mkdtemp(join(tmpdir(), 'buildmesh-dependents-'))
    try {
      const ownStore = ['--store', join(own, 'store')]
      const instantiate = async (expr: string): Promise<string> =>
        (await promisify(execFile)('nix-instantiate', [...ownStore, '--expr', expr])).stdout.trim()
      const mk = 'name: inputs: derivation { inherit name inputs; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }'
      const binutils = await instantiate(`let mk = ${mk}; in mk "binutils" [ ]`)
      await instantiate(`let mk = ${mk}; in mk "gcc" [ (mk "binutils" [ ]) ]`)
      const clock = new ManualClock()
      const cached = new StoreDependents({
        log,
        referrers: nixStoreReferrers(ownStore),
        read: async (p) => await readDerivation(p, (q) => join(own, 'store', q)),
        exists: async () => false,
        clock
      }, { freshForMs: 60_000 })
      const waiting = async (): Promise<string[]> => (await cached.of(binutils))?.users.get(binutils)?.map(name).sort() ?? []
      expect(await waiting()).toEqual(['gcc'])
      // The same binutils, so the same .drv: a second evaluation that also builds tests with it.
      await instantiate(`let mk = ${mk}; in mk "tests" [ (mk "binutils" [ ]) ]`)
      expect(await waiting()).toEqual(['gcc'])
      clock.advance(60_000)
      expect(await waiting()).toEqual(['gcc', 'tests'])
    } finally {
      await rm(own, { recursive: true, force: true })
    }
  })

  it('asks the store once while a derivation has too many dependents to read', async () => {
    const queries: string[] = []
    const few = dependents({ maxDependents: 3, queries })
    expect(await few.of(drv('binutils'))).toBeUndefined()
    expect(await few.of(drv('binutils'))).toBeUndefined()
    expect(await few.of(drv('gcc'))).toBeDefined()
    expect(queries).toEqual(['binutils', 'gcc'])
  })

  it('keeps no more than it was told to: past that it forgets all and asks the store again', async () => {
    const queries: string[] = []
    const small = dependents({ maxCached: 3, queries })
    await small.of(drv('docs'))
    await small.of(drv('libc'))
    await small.of(drv('profile'))
    expect(queries).toEqual(['docs', 'libc'])
    // Three derivations known: asking about a fourth forgets them, so docs is read again.
    await small.of(drv('gcc'))
    const docs = await small.of(drv('docs'))
    expect(queries).toEqual(['docs', 'libc', 'gcc', 'docs'])
    expect(Object.fromEntries([...docs?.users ?? []].map(([k, v]) => [name(k), v.map(name)]))).toEqual({ docs: ['profile'], profile: [] })
  })

  it('gives up on a derivation with more dependents than it will read, and on a store it cannot query', async () => {
    expect(await dependents({ maxDependents: 3 }).of(drv('binutils'))).toBeUndefined()
    expect(await dependents({ maxDependents: 4 }).of(drv('binutils'))).toBeDefined()
    const warnings: unknown[] = []
    const broken = new StoreDependents({ log: Object.assign(pino({ level: 'silent' }), { warn: (o: unknown) => warnings.push(o) }), referrers: async () => { throw new Error('database is locked') } })
    expect(await broken.of(drv('binutils'))).toBeUndefined()
    expect(warnings).toEqual([{ drvPath: drv('binutils'), err: 'database is locked' }])
  })

  it('says in one line how many derivations a failed query nobody waited for asked about', async () => {
    const warnings: unknown[] = []
    const broken = new StoreDependents({
      log: Object.assign(pino({ level: 'silent' }), { warn: (o: unknown) => warnings.push(o) }),
      referrers: async () => { throw new Error('database is locked') }
    }, { maxBackgroundQueries: 1 })
    for (const n of ['docs', 'libc', 'gcc']) expect(await broken.of(drv(n), { waitForStore: false })).toBeUndefined()
    await vi.waitFor(() => { expect(warnings).toHaveLength(2) })
    expect(warnings).toEqual([{ drvPath: drv('docs'), err: 'database is locked' }, { drvPath: drv('libc'), asked: 2, err: 'database is locked' }])
  })
})

describe('chainAfter', () => {
  it('takes the longest way through the derivations that wait, each counted once', () => {
    const users = new Map([['a', ['b', 'c']], ['b', ['d']], ['c', ['d']], ['d', []]])
    const seconds: Record<string, number> = { b: 5, c: 7, d: 2 }
    expect(chainAfter('a', users, (u) => seconds[u] ?? 0)).toBe(9)
    expect(chainAfter('d', users, (u) => seconds[u] ?? 0)).toBe(0)
    expect(chainAfter('unknown', users, () => 1)).toBe(0)
  })

  it('ends on a damaged graph with a cycle', () => {
    expect(chainAfter('a', new Map([['a', ['b']], ['b', ['a']]]), () => 1)).toBeGreaterThan(0)
  })

  it('walks a chain thousands long without running out of stack', () => {
    const users = new Map(Array.from({ length: 50_000 }, (_, i) => [`d${i}`, i < 49_999 ? [`d${i + 1}`] : []]))
    expect(chainAfter('d0', users, () => 1)).toBe(49_999)
  })
})
