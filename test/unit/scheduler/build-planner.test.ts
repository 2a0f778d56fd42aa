import { EventEmitter } from 'node:events'
import { pino } from 'pino'
import { describe, expect, it, vi } from 'vitest'
import { BuildPlanner } from '../../../scheduler/build-planner.ts'
import { defaultEligibilityPolicy } from '../../../scheduler/eligibility.ts'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { PeerTable } from '../../../scheduler/peer-table.ts'
import { BuildHistory } from '../../../scheduler/build-history.ts'
import { LocalBuilds } from '../../../scheduler/local-builds.ts'
import { Reservations } from '../../../scheduler/reservations.ts'
import { RunDerivations } from '../../../scheduler/run-derivations.ts'
import { WaitingBuilds } from '../../../scheduler/waiting-builds.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'
import type { BuilderStatus } from '../../../wire/status.ts'
import { advertisement, sighting, statusFrom } from '../../support/advertisements.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

interface Setup {
  planner: BuildPlanner
  join: (ad: Partial<Advertisement>, address: string, status?: Partial<BuilderStatus>) => void
  clock: ManualClock
  /** Store paths that exist on the master. */
  store: Set<string>
  history: BuildHistory
  table: PeerTable
  /** Runs of Nix that have ended; every other run is alive. */
  ended: Set<number>
}

type Dependents = NonNullable<ConstructorParameters<typeof BuildPlanner>[0]['dependents']>

type SshChecks = NonNullable<ConstructorParameters<typeof BuildPlanner>[0]['sshChecks']>

type HostNames = NonNullable<ConstructorParameters<typeof BuildPlanner>[0]['hostNames']>

type Master = Awaited<ReturnType<ConstructorParameters<typeof BuildPlanner>[0]['local']>>

async function setup (localSpeed = 1, dependents?: Map<string, string[]> | Dependents, master: Partial<Master> = {}, runs?: RunDerivations, sshChecks?: SshChecks, hostNames?: HostNames): Promise<Setup> {
  const clock = new ManualClock()
  const source = Object.assign(new EventEmitter<PeerSourceEvents>(), { start () {}, stop () {} })
  const table = new PeerTable({ clock, log })
  table.follow(source)
  await table.start()
  const store = new Set<string>()
  const ended = new Set<number>()
  const runAlive = (run: number): boolean => !ended.has(run)
  const history = new BuildHistory()
  // Wired as in agent/agent.ts: a local build's end is news for the waiting builds too.
  const waiting = new WaitingBuilds(5)
  const onDone = (b: { name: string, rate: number, bigParallel?: boolean }, seconds: number): void => {
    history.record(b.name, seconds * b.rate, b.bigParallel)
    waiting.buildEnded(clock.now() / 1000)
  }
  const planner = new BuildPlanner({
    table,
    history,
    waiting,
    clock,
    reservations: new Reservations(clock, { runAlive }),
    ...(runs === undefined ? {} : { runs }),
    ...(sshChecks === undefined ? {} : { sshChecks }),
    ...(hostNames === undefined ? {} : { hostNames }),
    dependents: dependents instanceof Map ? { of: async () => ({ users: dependents, facts: new Map() }) } : dependents,
    // Nix holds a local build's output locks until it ends; these builds end by their outputs.
    localBuilds: new LocalBuilds({ clock, outputsOf: async (drv) => [drv.replace(/\.drv$/, '-out')], exists: async (p) => store.has(p), onDone, runAlive, outputsLocked: async (builds) => builds.map(() => true) }),
    local: async () => ({ name: 'master', systems: ['x86_64-linux'], supportedFeatures: [], mandatoryFeatures: [], slots: 4, slotsInUse: 0, cores: 8, speed: localSpeed, load: 0, ...master })
  }, { sshKeyPath: '/var/lib/buildmesh/ssh/id_ed25519', eligibility: defaultEligibilityPolicy, plan: { overloadThreshold: 0.8 } })
  const join = (over: Partial<Advertisement>, address: string, status: Partial<BuilderStatus> = {}): void => {
    const ad = advertisement({ sshUser: 'root', ...over })
    const s = sighting(ad, clock.now(), address)
    source.emit('sighting', s)
    table.setTrust(s.key, true, null)
    table.setStatus(s.key, statusFrom(ad, status), clock.now())
    table.setAuthorized(s.key, true)
  }
  return { planner, join, clock, store, history, table, ended }
}

const drv = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-job-${n}.drv`
const request = (over: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ system: 'x86_64-linux', requiredFeatures: [], amWilling: true, drvPath: drv(0), ...over })

describe('BuildPlanner', () => {
  it('selects builders by name, exclusion, system and feature, and lists every known name', async () => {
    const { planner, join } = await setup()
    join({ name: 'ruby', systems: ['x86_64-linux'], supportedFeatures: ['kvm'] }, '10.9.0.2')
    join({ name: 'kana', systems: ['aarch64-linux'], supportedFeatures: [] }, '10.9.0.3')
    join({ name: 'full', freeDiskBytes: 10 }, '10.9.0.4')
    const names = (params: unknown): string[] => planner.builders(params).builders.map((b) => b.advertisement.name).sort()
    expect(names({})).toEqual(['kana', 'ruby'])
    expect(names({ only: ['ruby'] })).toEqual(['ruby'])
    expect(names({ exclude: ['ruby'] })).toEqual(['kana'])
    expect(names({ system: 'aarch64-linux' })).toEqual(['kana'])
    expect(names({ features: ['kvm'] })).toEqual(['ruby'])
    expect(planner.builders({}).known.sort()).toEqual(['full', 'kana', 'ruby'])
    // What Guix's list says of each, as the agent writes its own file.
    expect(planner.builders({}).overloadThreshold).toBe(0.8)
  })

  it('keeps a build local when the master is idle and fastest, and sends the overflow to a builder', async () => {
    const { planner, join } = await setup(4)
    join({ name: 'b1', speed: 1 }, '10.9.0.2')
    expect(await planner.decide(request({ amWilling: true }))).toEqual({ kind: 'local' })
    const overflow = await planner.decide(request({ amWilling: false }))
    expect(overflow).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    expect(overflow.nixLine).toMatch(/^ssh-ng:\/\/root@10\.9\.0\.2 x86_64-linux,i686-linux \/var\/lib\/buildmesh\/ssh\/id_ed25519 /)
  })

  it('answers two Nix clients asking at once one after the other, so both do not take the same free slot', async () => {
    const { planner, join } = await setup(0.25)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2')
    const answers = await Promise.all([1, 2].map(async (n) => (await planner.decide(request({ drvPath: drv(n), amWilling: false }))).kind))
    expect(answers).toEqual(['remote', 'postpone'])
  })

  it('waits at most a second for a store that does not answer, so that neither this answer nor the next is held up longer', async () => {
    // As StoreDependents does, it answers at once where the build is not waiting for the store.
    const { planner, join, clock } = await setup(0.25, { of: async (_, options) => options?.waitForStore === false ? undefined : await new Promise(() => {}) })
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2')
    // The peer table's own timer, and then the one an answer waits on the store with.
    const timers = clock.pending
    const answers: string[] = []
    const asked = [1, 2].map(async (n) => { answers.push((await planner.decide(request({ drvPath: drv(n), amWilling: false }))).kind) })
    await vi.waitFor(() => { expect(clock.pending).toBe(timers + 1) })
    clock.advance(999)
    await new Promise((resolve) => setImmediate(resolve))
    expect(answers).toEqual([])
    clock.advance(1)
    // The next, which no slot can take now, does not wait for the store at all.
    await Promise.all(asked)
    expect(answers).toEqual(['remote', 'postpone'])
    expect(clock.pending).toBe(timers)
  })

  it('counts the builds it kept local against max-jobs, though Nix says it is willing for the whole batch', async () => {
    const { planner, join, store } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 4 }, '10.9.0.2')
    const answers = []
    for (let n = 1; n <= 4; n++) answers.push((await planner.decide(request({ drvPath: drv(n), maxJobs: 2, amWilling: true }))).kind)
    expect(answers).toEqual(['local', 'local', 'remote', 'remote'])
    expect((await planner.decide(request({ drvPath: drv(1), maxJobs: 2 }))).kind).toBe('local')
    store.add(drv(1).replace(/\.drv$/, '-out'))
    expect((await planner.decide(request({ drvPath: drv(5), maxJobs: 2 }))).kind).toBe('local')
  })

  it('learns how long builds take, and then keeps a long build for the fast master rather than a slow builder', async () => {
    const { planner, join, clock, store, history } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
    const long = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-compiler-1.0.drv`
    const short = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-docs-1.0.drv`

    // First sight, no history: Nix has no local slot for it, so out it goes.
    expect((await planner.decide(request({ drvPath: short(1), maxJobs: 1, amWilling: true }))).kind).toBe('local')
    clock.advance(1000)
    store.add(short(1).replace(/\.drv$/, '-out'))
    const first = await planner.decide(request({ drvPath: long(2), maxJobs: 1, amWilling: false }))
    expect(first).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    expect(history.expected('docs-1.0')).toBeCloseTo(4, 0)
    clock.advance(100_000)
    await planner.release({ reservation: first.reservation })
    expect(history.expected('compiler-1.0')).toBeCloseTo(100, 0)

    // Now it knows: the master's short build ends in a second, and the long one takes 25 s
    // there against 100 s on b1. So it waits for the master's slot instead of going out.
    expect((await planner.decide(request({ drvPath: short(3), maxJobs: 1, amWilling: true }))).kind).toBe('local')
    expect((await planner.decide(request({ drvPath: long(4), maxJobs: 1, amWilling: false }))).kind).toBe('local')
  })

  /** A fast master with one slot that a short build holds, a long build told to wait for it, and a slow b1. */
  async function longBuildWaiting (): Promise<Setup & { named: (n: number, name: string) => string }> {
    const s = await setup(4)
    s.join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
    const named = (n: number, name: string): string => `/nix/store/${String(n).padStart(32, '0')}-${name}.drv`
    s.history.record('compiler-1.0', 400)
    s.history.record('docs-1.0', 10)
    expect((await s.planner.decide(request({ drvPath: named(1, 'docs-1.0'), maxJobs: 1, amWilling: true }))).kind).toBe('local')
    // No local slot: the long build waits for the master (2.5 s) rather than take 400 s on b1.
    expect((await s.planner.decide(request({ drvPath: named(2, 'compiler-1.0'), maxJobs: 1, amWilling: false }))).kind).toBe('local')
    return { ...s, named }
  }

  /** Three seconds on: b1 reports again and the short build's output is in the store. */
  function shortBuildEnds ({ join, clock, store, named }: Awaited<ReturnType<typeof longBuildWaiting>>): void {
    clock.advance(3000)
    join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
    store.add(named(1, 'docs-1.0').replace(/\.drv$/, '-out'))
  }

  it('tells the planner which builds wait: a short build leaves the master\'s slot to a long one Nix is about to ask again', async () => {
    const scene = await longBuildWaiting()
    const { planner, named } = scene
    shortBuildEnds(scene)
    // The docs build ended, so Nix is asking its waiters again: the next short build goes out.
    expect(await planner.decide(request({ drvPath: named(3, 'docs-1.0'), maxJobs: 1, amWilling: true }))).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    expect((await planner.decide(request({ drvPath: named(2, 'compiler-1.0'), maxJobs: 1, amWilling: true }))).kind).toBe('local')
  })

  it('assumes a build it has never seen is typical of its history, and waits for the master for it', async () => {
    const { planner, join, history } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
    for (const [name, work] of [['docs-1.0', 10], ['libfoo-2.0', 100], ['compiler-1.0', 400]] as const) history.record(name, work)
    const named = (n: number, name: string): string => `/nix/store/${String(n).padStart(32, '0')}-${name}.drv`
    expect((await planner.decide(request({ drvPath: named(1, 'docs-1.0'), maxJobs: 1, amWilling: true }))).kind).toBe('local')
    // Typically 100: 2.5 s of waiting and 25 s on the master, against 100 s on b1.
    expect((await planner.decide(request({ drvPath: named(2, 'mystery-0.1'), maxJobs: 1, amWilling: false }))).kind).toBe('local')
  })

  it('expects a big-parallel build it has never seen to take a typical big-parallel build\'s work, running too, and learns it as one', async () => {
    const named = (n: number, name: string): string => `/nix/store/${String(n).padStart(32, '0')}-${name}.drv`
    const giant = (n: number, name: string): Record<string, unknown> => request({ drvPath: named(n, name), requiredFeatures: ['big-parallel'], amWilling: false })
    const scene = async (gccWasBigParallel: boolean): Promise<Setup & { llvm: unknown }> => {
      const s = await setup(4)
      const builders = (): void => {
        s.join({ name: 'big', speed: 2, slots: 1, load: 0 }, '10.9.0.2', { cores: 8 })
        s.join({ name: 'other', speed: 1.2, slots: 2, load: 0 }, '10.9.0.3', { cores: 8 })
      }
      builders()
      s.history.record('hello-2.12', 10)
      s.history.record('gcc-13', 300, gccWasBigParallel)
      // The master has no big-parallel feature: the two builders are the only places for a giant.
      const llvm = await s.planner.decide(giant(1, 'llvm-17'))
      expect(llvm).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
      s.clock.advance(10_000)
      // Their statuses go on; big's count of running builds lags, its reservation does not.
      builders()
      return { ...s, llvm: llvm.reservation }
    }
    // llvm should end in 9 s on big, and firefox then takes 20 s there, against 32 s on other.
    const learned = await scene(true)
    expect(await learned.planner.decide(giant(2, 'firefox-120'))).toEqual({ kind: 'postpone' })
    // With no big-parallel build in the history, both are taken to be big: llvm has 215 s left.
    const fresh = await scene(false)
    expect(await fresh.planner.decide(giant(2, 'firefox-120'))).toMatchObject({ kind: 'remote', host: '10.9.0.3' })

    // llvm took 25 s at 16 units a second: 400, and the median of the two is 350.
    learned.clock.advance(15_000)
    await learned.planner.release({ reservation: learned.llvm })
    expect(learned.history.typicalBigParallel()).toBeCloseTo(350, 0)
  })

  it('sends a build the run does not wait for to a slower builder while the master builds the chain', async () => {
    const named = (name: string): string => `/nix/store/${'0'.repeat(32)}-${name}.drv`
    // What the store says: the app waits for the compiler; nothing waits for the docs.
    const users = new Map([[named('compiler-1.0'), [named('app-1.0')]], [named('app-1.0'), []], [named('docs-1.0'), []]])
    const decisions = async (dependents?: Map<string, string[]>): Promise<string[]> => {
      const { planner, join, history } = await setup(4, dependents)
      join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
      for (const [name, work] of [['compiler-1.0', 400], ['app-1.0', 40], ['docs-1.0', 8]] as const) history.record(name, work)
      const answers: string[] = []
      for (const name of ['compiler-1.0', 'docs-1.0']) {
        const d = await planner.decide(request({ drvPath: named(name), maxJobs: 4 }))
        answers.push(d.host ?? d.kind)
      }
      return answers
    }
    // The compiler and then the app take 100 s + 10 s on the master; the docs 9 s on b1.
    expect(await decisions(users)).toEqual(['local', '10.9.0.2'])
    // Not knowing the chain, the idle master is the fastest place for both.
    expect(await decisions()).toEqual(['local', 'local'])
  })

  it('counts in a chain only the derivations of the run, once the hook has sent all of its roots', async () => {
    const named = (name: string): string => `/nix/store/${'0'.repeat(32)}-${name}.drv`
    // The store also holds an older evaluation's browser, never built, that waits for the docs.
    const users = new Map([[named('compiler-1.0'), [named('app-1.0')]], [named('app-1.0'), []], [named('docs-1.0'), [named('browser-0.9')]], [named('browser-0.9'), []]])
    const runDrvs = [named('compiler-1.0'), named('app-1.0'), named('docs-1.0')]
    const decisions = async (roots?: Record<string, unknown>): Promise<unknown[]> => {
      const runs = new RunDerivations(new ManualClock())
      const { planner, join, history } = await setup(4, users, {}, runs)
      join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
      for (const [name, work] of [['compiler-1.0', 400], ['app-1.0', 40], ['docs-1.0', 8], ['browser-0.9', 800]] as const) history.record(name, work)
      const answers: unknown[] = []
      for (const name of ['compiler-1.0', 'docs-1.0']) {
        const d = await planner.decide(request({ drvPath: named(name), maxJobs: 4, nixRun: 77, ...(roots === undefined ? {} : { runRoots: roots }) }))
        answers.push(d.host ?? d.kind, d.runRootsHeld)
      }
      return answers
    }
    // All of the run's roots: the docs have nothing after them, and go to b1 while the master builds the compiler.
    expect(await decisions({ file: '1:2', size: 300, from: 0, to: 300, paths: runDrvs })).toEqual(['local', 300, '10.9.0.2', 300])
    // The old browser's 200 s after the docs keep them on the master when the run's roots are not known.
    expect(await decisions()).toEqual(['local', 0, 'local', 0])
    expect(await decisions({ file: '1:2', size: 300, from: 300, to: 300, paths: [] })).toEqual(['local', 0, 'local', 0])
  })

  it('times each build of a chain on the machines for its own system', async () => {
    const named = (name: string): string => `/nix/store/${'0'.repeat(32)}-${name}.drv`
    // The docs are built here, for x86_64; the port that waits for them, for aarch64 only.
    const users = new Map([[named('compiler-1.0'), [named('app-1.0')]], [named('app-1.0'), []], [named('docs-1.0'), [named('port-1.0')]], [named('port-1.0'), []]])
    const facts = new Map([[named('app-1.0'), { outputs: [], inputDrvs: [named('compiler-1.0')], requiredFeatures: [], system: 'x86_64-linux' }], [named('port-1.0'), { outputs: [], inputDrvs: [named('docs-1.0')], requiredFeatures: [], system: 'aarch64-linux' }]])
    const { planner, join, history } = await setup(4, { of: async () => ({ users, facts }) })
    join({ name: 'b1', speed: 1, slots: 2 }, '10.9.0.2')
    join({ name: 'arm', speed: 1, slots: 2, systems: ['aarch64-linux'] }, '10.9.0.3')
    for (const [name, work] of [['compiler-1.0', 400], ['app-1.0', 40], ['docs-1.0', 8], ['port-1.0', 200]] as const) history.record(name, work)
    expect(await planner.decide(request({ drvPath: named('compiler-1.0'), maxJobs: 4 }))).toEqual({ kind: 'local' })
    // The port takes 200 s on arm, not the 50 s it would on this master: with the docs, longer
    // than the compiler and the app (110 s), so the docs stay on the fast master.
    expect(await planner.decide(request({ drvPath: named('docs-1.0'), maxJobs: 4 }))).toEqual({ kind: 'local' })
  })

  it('keeps Nix waiting on the store only for a build that could start now', async () => {
    // A store that never answers: a decision that waits for it never comes.
    const asked: Array<boolean | undefined> = []
    const { planner, join } = await setup(1, {
      of: async (_drv, options) => {
        asked.push(options?.waitForStore)
        return options?.waitForStore === false ? undefined : await new Promise<never>(() => {})
      }
    })
    join({ name: 'b1', slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    // Every slot taken, here and on b1: it waits, whatever its chain.
    expect(await planner.decide(request({ amWilling: false, maxJobs: 1 }))).toEqual({ kind: 'postpone' })
    const free = await Promise.race([planner.decide(request({ amWilling: true, maxJobs: 1 })), new Promise((resolve) => setTimeout(resolve, 50, 'still deciding'))])
    expect(free).toBe('still deciding')
    expect(asked).toEqual([false, true])
  })

  it('forgets a waiting build once Nix asks about it again', async () => {
    const scene = await longBuildWaiting()
    const { planner, named } = scene
    // Asked again (and kept local this time), it has no claim left on the master's next slot.
    expect((await planner.decide(request({ drvPath: named(2, 'compiler-1.0'), maxJobs: 2, amWilling: true }))).kind).toBe('local')
    shortBuildEnds(scene)
    expect((await planner.decide(request({ drvPath: named(3, 'docs-1.0'), maxJobs: 2, amWilling: true }))).kind).toBe('local')
  })

  it('counts its own reservations against a builder until they are released', async () => {
    const { planner, join } = await setup(4)
    join({ name: 'b1', slots: 2 }, '10.9.0.2', { slotsInUse: 0 })
    const first = await planner.decide(request({ amWilling: false }))
    const second = await planner.decide(request({ amWilling: false }))
    expect([first.kind, second.kind]).toEqual(['remote', 'remote'])
    expect(await planner.decide(request({ amWilling: false }))).toEqual({ kind: 'postpone' })
    expect(await planner.release({ reservation: first.reservation })).toEqual({ released: true })
    expect(await planner.decide(request({ amWilling: false }))).toMatchObject({ kind: 'remote' })
  })

  it('does not choose a builder while the check Nix\'s own hook asked for runs', async () => {
    const suspects = new Set<string>()
    const { planner, join, table } = await setup(0, undefined, {}, undefined, { checkNow: async () => {}, isSuspect: (key: string) => suspects.has(key) })
    join({ name: 'fast', speed: 8 }, '10.9.0.2')
    join({ name: 'slow', speed: 1 }, '10.9.0.3')
    expect(await planner.decide(request({ amWilling: false, drvPath: drv(1) }))).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    suspects.add(table.list().find((p) => p.name === 'fast')!.key)
    expect(await planner.decide(request({ amWilling: false, drvPath: drv(2) }))).toMatchObject({ kind: 'remote', host: '10.9.0.3' })
  })

  it('learns only from a build that came back built, has the builder checked over SSH when one was not, and says when a failed build\'s builder is lost', async () => {
    const checked: string[] = []
    let sshFails = false
    const sshChecks = {
      isSuspect: () => false,
      checkNow: async (key: string) => {
        checked.push(key)
        table.setSsh(key, sshFails
          ? { ok: false, reason: 'unreachable: connect ETIMEDOUT', failures: 1, nextCheckAt: clock.now() + 5000 }
          : { ok: true, reason: null, failures: 0, nextCheckAt: clock.now() + 60_000 })
      }
    }
    const { planner, join, clock, history, table } = await setup(1, undefined, {}, undefined, sshChecks)
    const compiler = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-compiler-1.0.drv`
    // Its agent streams status twice a second; the table forgets it 7 s after the last.
    const heardFrom = (): void => { join({ name: 'b1', speed: 8 }, '10.9.0.2') }
    const sent = async (n: number): Promise<string> => {
      heardFrom()
      const answer = await planner.decide(request({ drvPath: compiler(n), amWilling: false }))
      expect(answer).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
      return answer.reservation as string
    }

    // Unreachable: Nix's own hook gave up on b1 within a second. That is no compiler's work.
    const declined = await sent(1)
    clock.advance(300)
    expect(await planner.release({ reservation: declined, outcome: 'declined' })).toEqual({ released: true })
    expect(history.expected('compiler-1.0')).toBeUndefined()
    expect(checked).toHaveLength(1)
    // The build failed there after 10 s, and b1 still answers: the failure is the build's own.
    const failed = await sent(2)
    clock.advance(10_000)
    heardFrom()
    expect(await planner.release({ reservation: failed, outcome: 'failed' })).toEqual({ released: true, lost: false })
    expect(history.expected('compiler-1.0')).toBeUndefined()
    expect(checked).toHaveLength(2)
    // Now its sshd does not answer: lost, and the build can go elsewhere.
    const cut = await sent(3)
    clock.advance(10_000)
    heardFrom()
    sshFails = true
    expect(await planner.release({ reservation: cut, outcome: 'failed' })).toEqual({ released: true, lost: true })
    sshFails = false
    await sshChecks.checkNow(table.list()[0]!.key)
    // Built in 100 s at 8 a second; a hook from before outcomes only released what it built.
    const built = await sent(4)
    clock.advance(100_000)
    expect(await planner.release({ reservation: built, outcome: 'built' })).toEqual({ released: true })
    expect(history.expected('compiler-1.0')).toBeCloseTo(800, 0)
    const older = await sent(5)
    clock.advance(100_000)
    await planner.release({ reservation: older })
    expect(history.expected('compiler-1.0')).toBeCloseTo(800, 0)
    expect(checked).toHaveLength(4)
    // Gone from the mesh while it built (its status stopped): lost, without a check.
    const gone = await sent(6)
    clock.advance(60_000)
    expect(await planner.release({ reservation: gone, outcome: 'failed' })).toEqual({ released: true, lost: true })
    await expect(planner.release({ reservation: older, outcome: 'lost' })).rejects.toThrow(/outcome must be one of built, failed, declined/)
  })

  it('for a build Nix already handed over (remoteOnly), never picks the master, however fast and idle', async () => {
    const { planner, join } = await setup(8)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    expect(await planner.decide(request({ amWilling: true }))).toEqual({ kind: 'local' })
    expect(await planner.decide(request({ amWilling: true, remoteOnly: true }))).toEqual({ kind: 'postpone' })
    join({ name: 'b2', speed: 1 }, '10.9.0.3')
    expect(await planner.decide(request({ amWilling: true, remoteOnly: true }))).toMatchObject({ kind: 'remote', host: '10.9.0.3' })
  })

  it('restricted to named hosts, never builds locally and never elsewhere', async () => {
    const { planner, join } = await setup(4)
    join({ name: 'b1', speed: 8 }, '10.9.0.2')
    join({ name: 'b2', speed: 1 }, '10.9.0.3')
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.3'] }))).toMatchObject({ kind: 'remote', host: '10.9.0.3' })
    expect(await planner.decide(request({ allowedHosts: [] }))).toEqual({ kind: 'impossible' })
    expect(await planner.decide(request({ allowedHosts: ['static-builder.lan', '10.9.0.3'] }))).toMatchObject({ kind: 'remote', host: '10.9.0.3' })
  })

  it('restricted to named hosts, waits for a named member that may not build now, rather than have Nix build here', async () => {
    const { planner, join, table } = await setup(4)
    join({ name: 'b1', speed: 1 }, '10.9.0.2')
    join({ name: 'arm', speed: 1, systems: ['aarch64-linux'] }, '10.9.0.4')
    const b1 = table.list().find((p) => p.name === 'b1')!
    table.setSsh(b1.key, { ok: false, reason: 'connection refused', failures: 1, nextCheckAt: 5000 })
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.2'] }))).toEqual({ kind: 'postpone' })
    // A member that could never build it, or one no longer trusted, is nothing to wait for.
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.4'] }))).toEqual({ kind: 'impossible' })
    table.setTrust(b1.key, false, 'unreachable')
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.2'] }))).toEqual({ kind: 'impossible', strangers: ['10.9.0.2'] })
  })

  it('says which of the hosts Nix names no trusted member has, for Nix\'s own hook to build on', async () => {
    const { planner, join } = await setup(4)
    join({ name: 'b1', speed: 1 }, '10.9.0.2')
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.2', 'static.lan'] }))).toMatchObject({ kind: 'remote', host: '10.9.0.2', strangers: ['static.lan'] })
    expect(await planner.decide(request({ outsideHosts: ['10.9.0.2', 'static.lan', 'static.lan'] }))).toEqual({ kind: 'local', strangers: ['static.lan'] })
    expect(await planner.decide(request({ outsideHosts: ['10.9.0.2'] }))).toEqual({ kind: 'local' })
  })

  it('has a build wait for one of its run\'s remote builds to end, not for a poll, where the master may not build', async () => {
    const { planner, join, ended, clock } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2')
    const ask = async (n: number, nixRun: number): Promise<unknown> => await planner.decide(request({ drvPath: drv(n), maxJobs: 0, amWilling: false, nixRun, hookPid: 9000 + n }))
    expect(await ask(1, 100)).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    expect(await ask(2, 100)).toEqual({ kind: 'local' })
    // Another run has nothing of its own running: a decline would leave its Nix nothing to wait for.
    expect(await ask(3, 200)).toEqual({ kind: 'postpone' })
    // Nor has a run whose hook was killed before it could say the build was over.
    ended.add(9001)
    expect(await ask(4, 100)).toEqual({ kind: 'postpone' })
    // Nor a run that ended: what it sent is over.
    ended.add(100)
    clock.advance(1000)
    expect(await ask(5, 300)).toMatchObject({ kind: 'remote' })
  })

  it('takes a builder\'s slot as free once the build in it ended, before its next status says so', async () => {
    const { planner, join, clock } = await setup(0.25)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2')
    const sent = await planner.decide(request({ drvPath: drv(1), amWilling: false })) as { reservation: string }
    // Past the time a fresh reservation holds the slot: the builder's own count is the truth.
    clock.advance(20_000)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    clock.advance(100)
    expect((await planner.decide(request({ drvPath: drv(2), amWilling: false }))).kind).toBe('postpone')
    expect(await planner.release({ reservation: sent.reservation, outcome: 'built' })).toEqual({ released: true })
    expect(await planner.decide(request({ drvPath: drv(2), amWilling: false }))).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
  })

  /** ruby (10.9.0.2) and kana (10.9.0.3), with `dns` what names resolve to, and each lookup's names. */
  async function namedMembers (dns: Record<string, string[]>): Promise<{ planner: BuildPlanner, looked: string[][] }> {
    const looked: string[][] = []
    const hostNames: HostNames = {
      addresses: async (names) => {
        looked.push(names)
        return new Map(names.map((n) => [n, dns[n] ?? []]))
      }
    }
    const { planner, join } = await setup(4, undefined, {}, undefined, undefined, hostNames)
    join({ name: 'ruby', speed: 1 }, '10.9.0.2', { hostName: 'ruby' })
    join({ name: 'kana', speed: 8 }, '10.9.0.3', { hostName: 'kana' })
    return { planner, looked }
  }

  it('knows a member the setting names by a name: one that resolves to its address, or the host name it reports', async () => {
    const { planner, looked } = await namedMembers({ 'ruby.lan': ['10.9.0.2'] })
    expect(await planner.decide(request({ allowedHosts: ['ruby.lan'] }))).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    expect(await planner.decide(request({ allowedHosts: ['KANA.local.', 'static.lan'] }))).toMatchObject({ kind: 'remote', host: '10.9.0.3', strangers: ['static.lan'] })
    expect(await planner.decide(request({ outsideHosts: ['ruby.lan', 'kana'] }))).not.toHaveProperty('strangers')
    // Only a member counts: a name that resolves to nobody's address is outside the mesh.
    expect(await planner.decide(request({ allowedHosts: ['ruby.other'] }))).toEqual({ kind: 'impossible', strangers: ['ruby.other'] })
    expect(looked).toContainEqual(['KANA.local.', 'static.lan'])
    // A request that names no host looks nothing up.
    await planner.decide(request())
    expect(looked).toHaveLength(4)
  })

  it('knows a member the setting names by a Host alias of ssh\'s configuration, and says which allowed host it chose', async () => {
    const { planner, looked } = await namedMembers({ 'kana.lan': ['10.9.0.3'] })
    // ssh goes to the address its configuration gives, not to the member whose name the alias is.
    expect(await planner.decide(request({ allowedHosts: ['kana'], sshHostNames: { kana: '10.9.0.2' } }))).toMatchObject({ kind: 'remote', host: '10.9.0.2', listedAs: 'kana' })
    expect(await planner.decide(request({ allowedHosts: ['b'], sshHostNames: { b: 'kana.lan' } }))).toMatchObject({ kind: 'remote', host: '10.9.0.3', listedAs: 'b' })
    expect(looked).toContainEqual(['kana.lan'])
    expect(await planner.decide(request({ outsideHosts: ['b'], sshHostNames: { b: 'ruby' } }))).not.toHaveProperty('strangers')
    // Named by its address, a member needs no other name.
    expect(await planner.decide(request({ allowedHosts: ['10.9.0.3'] }))).not.toHaveProperty('listedAs')
  })

  it('answers the rest of a round ahead: the waiters after the one asked, told to keep waiting as each would be', async () => {
    const { planner, join, store } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    expect((await planner.decide(request({ drvPath: drv(1), maxJobs: 1, amWilling: true }))).kind).toBe('local')
    for (const n of [4, 2, 3]) expect(await planner.decide(request({ drvPath: drv(n), maxJobs: 1, amWilling: false }))).toEqual({ kind: 'local' })
    // Nix asks its waiters again, in the order of their goals; every slot is still taken.
    expect(await planner.decide(request({ drvPath: drv(2), maxJobs: 1, amWilling: false, forecast: true }))).toEqual({ kind: 'local', declines: [drv(3), drv(4)], at: expect.any(Number) })
    // The hook answered 3 itself; 4 it did not (Nix asked something else first).
    expect(await planner.decide(request({ drvPath: drv(5), maxJobs: 1, amWilling: false, forecast: true, served: [drv(3)] }))).toEqual({ kind: 'local', declines: [], at: expect.any(Number) })
    // The master's build ended: its free slot goes to the first waiter Nix asks, and the round
    // after it is answered ahead as the master's slot is taken again.
    store.add(drv(1).replace(/\.drv$/, '-out'))
    expect(await planner.decide(request({ drvPath: drv(2), maxJobs: 1, amWilling: true, forecast: true }))).toEqual({ kind: 'local', declines: [drv(3), drv(4), drv(5)], at: expect.any(Number) })
    await expect(planner.decide(request({ served: ['/etc/passwd'] }))).rejects.toThrow(/served/)
    await expect(planner.decide(request({ served: 'x' }))).rejects.toThrow(/served/)
  })

  it('keeps two runs of Nix apart: each has its own local slots, and its round ahead holds only its own waiters', async () => {
    const { planner, join, store } = await setup(4)
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    const ask = async (n: number, nixRun: number, amWilling: boolean, forecast = false): Promise<unknown> =>
      await planner.decide(request({ drvPath: drv(n), maxJobs: 1, amWilling, nixRun, ...(forecast ? { forecast } : {}) }))
    // Run 101's slot takes its build; run 202, with a slot of its own, builds here too.
    expect(await ask(1, 101, true)).toEqual({ kind: 'local' })
    expect(await ask(11, 202, true)).toEqual({ kind: 'local' })
    // Each run's next build waits for a slot of its run.
    for (const n of [2, 3]) expect(await ask(n, 101, false)).toEqual({ kind: 'local' })
    for (const n of [12, 13]) expect(await ask(n, 202, false)).toEqual({ kind: 'local' })
    expect(await ask(2, 101, false, true)).toEqual({ kind: 'local', declines: [drv(3)], at: expect.any(Number) })
    expect(await ask(12, 202, false, true)).toEqual({ kind: 'local', declines: [drv(13)], at: expect.any(Number) })
    // Run 101's build ends: its slot is free for its next build, while run 202's is still taken.
    store.add(drv(1).replace(/\.drv$/, '-out'))
    expect(await ask(2, 101, true)).toEqual({ kind: 'local' })
    expect(await ask(13, 202, false)).toEqual({ kind: 'local' })
    await expect(planner.decide(request({ nixRun: 'me' }))).rejects.toThrow(/nixRun/)
    await expect(planner.decide(request({ nixRun: 0 }))).rejects.toThrow(/nixRun/)
  })

  it('counts every run\'s builds on the master\'s cores before its load average shows them', async () => {
    const { planner, join, store } = await setup(1.5, undefined, { supportedFeatures: ['big-parallel'] })
    join({ name: 'b1', speed: 1, slots: 1, supportedFeatures: ['big-parallel'] }, '10.9.0.2', { cores: 8 })
    const giant = async (n: number, nixRun: number): Promise<unknown> =>
      await planner.decide(request({ drvPath: drv(n), requiredFeatures: ['big-parallel'], maxJobs: 1, amWilling: true, nixRun }))
    // Alone, a giant gets all 8 of the master's cores at speed 1.5: 12 units a second, against b1's 8.
    expect(await giant(1, 101)).toEqual({ kind: 'local' })
    // The master's load is still 0, but run 101's giant keeps its cores busy: 6 a second here now.
    expect(await giant(2, 202)).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    store.add(drv(1).replace(/\.drv$/, '-out'))
    expect(await giant(3, 202)).toEqual({ kind: 'local' })
  })

  it('forgets the builds of a run of Nix that ended (stopped with Ctrl-C, its hooks killed before they could say), and learns nothing from them', async () => {
    const { planner, join, ended, history } = await setup(1.5, undefined, { supportedFeatures: ['big-parallel'] })
    join({ name: 'b1', speed: 1, slots: 2, supportedFeatures: ['big-parallel'] }, '10.9.0.2', { cores: 8 })
    const giant = async (n: number, nixRun: number): Promise<unknown> =>
      await planner.decide(request({ drvPath: drv(n), requiredFeatures: ['big-parallel'], maxJobs: 1, amWilling: true, nixRun }))
    expect(await giant(1, 101)).toEqual({ kind: 'local' })
    expect(await giant(2, 202)).toMatchObject({ kind: 'remote', host: '10.9.0.2' })
    // Run 101 stopped, and its giant with it: the master's 8 cores are free again for run 303.
    ended.add(101)
    expect(await giant(3, 303)).toEqual({ kind: 'local' })
    expect(history.typicalBigParallel()).toBeUndefined()
  })

  it('looks up the chain of a build the hook told to keep waiting, as Nix asking again would have had it', async () => {
    const asked: Array<[string, boolean | undefined]> = []
    const { planner, join } = await setup(4, { of: async (drvPath, options) => { asked.push([drvPath, options?.waitForStore]); return undefined } })
    join({ name: 'b1', speed: 1, slots: 1 }, '10.9.0.2', { slotsInUse: 1 })
    await planner.decide(request({ drvPath: drv(1), maxJobs: 1, amWilling: true }))
    await planner.decide(request({ drvPath: drv(2), maxJobs: 1, amWilling: false }))
    asked.length = 0
    await planner.decide(request({ drvPath: drv(3), maxJobs: 1, amWilling: false, served: [drv(2)] }))
    expect(asked).toEqual([[drv(2), false], [drv(3), false]])
  })

  it('says impossible for a system nobody builds, and refuses malformed requests', async () => {
    const { planner } = await setup()
    expect(await planner.decide(request({ system: 'riscv64-linux' }))).toEqual({ kind: 'impossible' })
    await expect(planner.decide(request({ system: 'x86_64-linux\nevil' }))).rejects.toThrow(/system/)
    await expect(planner.decide(request({ amWilling: 'yes' }))).rejects.toThrow(/amWilling/)
    await expect(planner.decide(request({ drvPath: '/etc/passwd' }))).rejects.toThrow(/drvPath/)
    await expect(planner.decide(request({ maxJobs: -1 }))).rejects.toThrow(/maxJobs/)
    await expect(planner.release({ reservation: 42 })).rejects.toThrow(/reservation/)
  })
})
