import { describe, expect, it } from 'vitest'
import { assumedWork, canBuild, defaultPlanPolicy, expectedRate, fastestSeconds, planBuild, runningWork, type BuildRequest, type Candidate } from '../../../scheduler/plan-build.ts'

const machine = (name: string, over: Partial<Candidate> = {}): Candidate => ({
  name,
  local: false,
  systems: ['x86_64-linux'],
  supportedFeatures: ['big-parallel'],
  mandatoryFeatures: [],
  slots: 2,
  slotsInUse: 0,
  cores: 4,
  speed: 1,
  load: 0,
  ...over
})
const master = (over: Partial<Candidate> = {}): Candidate => machine('master', { local: true, slots: 4, cores: 8, speed: 4, ...over })
const request = (over: Partial<BuildRequest> = {}): BuildRequest => ({ system: 'x86_64-linux', requiredFeatures: [], amWilling: true, ...over })
const busyMaster = (endsIn?: number[]): Candidate => master({ slotsInUse: 4, load: 0.5, endsIn })
const full = (name: string, over: Partial<Candidate> = {}): Candidate => machine(name, { slotsInUse: 2, load: 0.5, ...over })

describe('planBuild', () => {
  it.each<[string, BuildRequest, Candidate[], ReturnType<typeof planBuild>]>([
    ['stays local when the master is idle and fastest', request(), [machine('b1'), master()], { kind: 'local' }],
    ['stays local with history too', request({ expectedWork: 100 }), [machine('b1'), master()], { kind: 'local' }],
    ['stays local when the master is idle and as fast as the best remote',
      request({ expectedWork: 30 }), [machine('b1', { speed: 2 }), master({ speed: 2 })], { kind: 'local' }],
    ['goes to the faster remote when the master is slower', request(), [machine('b1', { speed: 2 }), master({ speed: 1 })], { kind: 'remote', name: 'b1' }],
    ['sends the overflow to the fastest free remote when the local slots are full',
      request({ amWilling: false }), [machine('b1'), machine('b2', { speed: 2 }), busyMaster()], { kind: 'remote', name: 'b2' }],
    ['sends the overflow to a remote when the master will be busy long',
      request({ amWilling: false, expectedWork: 10 }), [machine('b1'), busyMaster([60, 60, 60, 60])], { kind: 'remote', name: 'b1' }],
    ['lets a short build take the slow builder though the master frees soon',
      request({ amWilling: false, expectedWork: 1 }), [machine('b1'), busyMaster([5, 60, 60, 60])], { kind: 'remote', name: 'b1' }],
    ['makes a long build wait for the fast master rather than crawl on a slow builder',
      request({ amWilling: false, expectedWork: 100 }), [machine('b1'), busyMaster([2, 60, 60, 60])], { kind: 'local' }],
    ['sends big-parallel to the machine with the most cores',
      request({ amWilling: false, requiredFeatures: ['big-parallel'] }),
      [machine('b4'), machine('b16', { cores: 16 }), machine('b8', { cores: 8 }), busyMaster()], { kind: 'remote', name: 'b16' }],
    ['prefers more cores for big-parallel over an idle master with fewer',
      request({ requiredFeatures: ['big-parallel'] }), [machine('b16', { cores: 16 }), master({ speed: 1, cores: 2 })], { kind: 'remote', name: 'b16' }],
    ['skips a builder at the overload threshold', request({ amWilling: false }), [machine('b1', { load: 0.8 }), machine('b2', { load: 0.79 }), busyMaster()], { kind: 'remote', name: 'b2' }],
    ['waits for a local slot when every machine is busy and local builds run',
      request({ amWilling: false }), [full('b1'), machine('b2', { load: 0.9 }), busyMaster()], { kind: 'local' }],
    ['postpones when every machine is busy and nothing local runs',
      request({ amWilling: false }), [full('b1'), master({ slots: 0 })], { kind: 'postpone' }],
    ['waits for one of the run\'s remote builds to end when the master may not build (--max-jobs 0)',
      request({ amWilling: false, remoteRunning: 2 }), [full('b1'), master({ slots: 0 })], { kind: 'local' }],
    ['waits for one of the run\'s remote builds to end when limited to builders',
      request({ amWilling: false, remoteRunning: 1 }), [full('b1')], { kind: 'local' }],
    ['postpones, with a local slot free, though the run\'s remote builds run: a decline would build here',
      request({ amWilling: true, remoteRunning: 1, expectedWork: 100 }), [full('b1', { speed: 8, endsIn: [2, 2] }), master({ speed: 1, slots: 1 })], { kind: 'postpone' }],
    ['postpones when every machine that could build it is busy and the master cannot',
      request({ system: 'aarch64-linux', amWilling: false }), [full('arm', { systems: ['aarch64-linux'] }), busyMaster()], { kind: 'postpone' }],
    ['is impossible when no machine has the system', request({ system: 'riscv64-linux' }), [machine('b1'), master()], { kind: 'impossible' }],
    ['is impossible when no machine has the feature', request({ requiredFeatures: ['kvm'] }), [machine('b1'), master()], { kind: 'impossible' }],
    ['keeps builds off a machine whose mandatory features they do not require',
      request(), [machine('vm', { mandatoryFeatures: ['kvm'], speed: 8 }), master({ speed: 1 })], { kind: 'local' }],
    ['sends a build that requires a mandatory feature there',
      request({ requiredFeatures: ['kvm'] }), [machine('vm', { mandatoryFeatures: ['kvm'] }), master()], { kind: 'remote', name: 'vm' }],
    ['is impossible when the only machine for the system reserves itself for a feature',
      request({ system: 'aarch64-linux' }), [machine('arm', { systems: ['aarch64-linux'], mandatoryFeatures: ['kvm'] }), master()], { kind: 'impossible' }]
  ])('%s', (_what, req, candidates, decision) => {
    expect(planBuild(req, candidates)).toEqual(decision)
  })

  it('leaves the master\'s free slot to a much longer waiting build', () => {
    const candidates = [full('b1', { endsIn: [200, 200] }), master({ slotsInUse: 3, load: 0.4, endsIn: [20, 20, 20] })]
    const short = request({ expectedWork: 20 })
    expect(planBuild(short, candidates)).toEqual({ kind: 'local' })
    expect(planBuild({ ...short, queue: [{ system: 'x86_64-linux', requiredFeatures: [], expectedWork: 400, askedAgainIn: 0 }] }, candidates))
      .toEqual({ kind: 'postpone' })
    // A waiting build Nix will not ask about before the next build ends has no claim on it.
    expect(planBuild({ ...short, queue: [{ system: 'x86_64-linux', requiredFeatures: [], expectedWork: 400, askedAgainIn: 10 }] }, candidates))
      .toEqual({ kind: 'local' })
  })

  it('takes the master\'s free slot before a longer waiting build when a longer chain waits for it', () => {
    const candidates = [full('b1', { endsIn: [200, 200] }), master({ slotsInUse: 3, load: 0.4, endsIn: [20, 20, 20] })]
    const waiting = { system: 'x86_64-linux', requiredFeatures: [], expectedWork: 400, askedAgainIn: 0 }
    // 5 s and then a 100 s chain, against 100 s alone.
    const short = request({ expectedWork: 20, chainAfter: 100, queue: [waiting] })
    expect(planBuild(short, candidates)).toEqual({ kind: 'local' })
    expect(planBuild({ ...short, chainAfter: 90 }, candidates)).toEqual({ kind: 'postpone' })
    // The waiting build's own chain counts the same way.
    expect(planBuild({ ...short, queue: [{ ...waiting, chainAfter: 10 }] }, candidates)).toEqual({ kind: 'postpone' })
  })

  it('plans a build with no history, and a waiting one, as typical builds', () => {
    const candidates = [full('b1', { endsIn: [200, 200] }), master({ slotsInUse: 3, load: 0.4, endsIn: [20, 20, 20] })]
    const waiting = { system: 'x86_64-linux', requiredFeatures: [], askedAgainIn: 0 }
    // Typical is 400 units: the waiting build's claim on the master is as good as a known long one's.
    expect(planBuild(request({ expectedWork: 20, typicalWork: 400, queue: [waiting] }), candidates)).toEqual({ kind: 'postpone' })
    // Typical is 20 units: the new build yields to a known long one, as a short known build would.
    expect(planBuild(request({ typicalWork: 20, queue: [{ ...waiting, expectedWork: 400 }] }), candidates)).toEqual({ kind: 'postpone' })
    expect(planBuild(request({ typicalWork: 20, queue: [waiting] }), candidates)).toEqual({ kind: 'local' })
  })

  it('leaves a contended fast slot to a build only a few times longer that Nix is about to ask about again', () => {
    const candidates = [full('b1', { endsIn: [200, 200] }), master({ slotsInUse: 3, load: 0.4, endsIn: [20, 20, 20] })]
    const queue = [{ system: 'x86_64-linux', requiredFeatures: [], expectedWork: 40, askedAgainIn: 0 }]
    expect(planBuild(request({ expectedWork: 12, queue }), candidates)).toEqual({ kind: 'postpone' })
  })

  it('takes a free slot rather than sleeping a poll when it would be done in half of one there', () => {
    const candidates = [full('b1', { endsIn: [200, 200] }), master({ slotsInUse: 3, load: 0.4, endsIn: [20, 20, 20] })]
    const queue = [{ system: 'x86_64-linux', requiredFeatures: [], expectedWork: 400, askedAgainIn: 0 }]
    // 2.5 s on the master: the longer build Nix asks about next waits 2.5 s, not this one 5 s.
    expect(planBuild(request({ expectedWork: 10, queue }), candidates)).toEqual({ kind: 'local' })
    expect(planBuild(request({ expectedWork: 11, queue }), candidates)).toEqual({ kind: 'postpone' })
  })

  it('assumes a typical build for one with no history of its own', () => {
    const mystery = request({ amWilling: false, typicalWork: 40 })
    // 2 s of waiting and 10 s on the master, against 41 s on b1.
    expect(planBuild(mystery, [machine('b1'), busyMaster([2, 60, 60, 60])])).toEqual({ kind: 'local' })
    expect(planBuild(mystery, [machine('b1'), busyMaster([60, 60, 60, 60])])).toEqual({ kind: 'remote', name: 'b1' })
    // Without any history it takes the fastest slot free now.
    expect(planBuild({ ...mystery, typicalWork: undefined }, [machine('b1'), busyMaster([2, 60, 60, 60])])).toEqual({ kind: 'remote', name: 'b1' })
    // With nothing local to wait for, a wait is a postpone: b1 stays free, but not for five seconds more.
    expect(planBuild(request({ amWilling: false, typicalWork: 4 }), [machine('b1'), master({ slots: 0 })])).toEqual({ kind: 'remote', name: 'b1' })
    expect(planBuild(request({ typicalWork: 40 }), [machine('b1'), master()])).toEqual({ kind: 'local' })
  })

  it('sends a build with slack to a slower free builder, leaving the master to the chain the run waits for', () => {
    // 8 units: 2 s on the master, 9 s on b1 (with copying). The running chains end in 100 s.
    const slack = request({ expectedWork: 8, chainAfter: 10, runningChainsEndIn: 100 })
    const candidates = [machine('b1'), machine('b2', { speed: 0.5 }), master({ slotsInUse: 1, load: 0.2 })]
    expect(planBuild(slack, candidates)).toEqual({ kind: 'remote', name: 'b1' })
    // On b1 it and its chain would end after the running chains: it is on the critical path.
    expect(planBuild({ ...slack, chainAfter: 95 }, candidates)).toEqual({ kind: 'local' })
    // Without chains, or with a builder no slower than the master, nothing is gained by moving it.
    expect(planBuild({ ...slack, runningChainsEndIn: undefined }, candidates)).toEqual({ kind: 'local' })
    expect(planBuild({ ...slack, chainAfter: undefined }, candidates)).toEqual({ kind: 'local' })
    expect(planBuild(slack, [machine('b1', { speed: 4, cores: 8 }), master({ slotsInUse: 1, load: 0.2 })])).toEqual({ kind: 'local' })
    // Only a free builder under the overload threshold takes it.
    expect(planBuild(slack, [full('b1'), machine('b2', { load: 0.9 }), master()])).toEqual({ kind: 'local' })
  })

  it('leaves the fastest builder to the chain too, for a slower one or a slow master', () => {
    // 8 units: 4.5 s on b8 (speed 2, with copying), 9 s on b1, 16 s on the master (speed 0.5).
    const slack = request({ expectedWork: 8, chainAfter: 10, runningChainsEndIn: 100 })
    const slowMaster = master({ speed: 0.5, cores: 2, slots: 2 })
    expect(planBuild({ ...slack, chainAfter: undefined }, [machine('b8', { speed: 2 }), machine('b1'), slowMaster])).toEqual({ kind: 'remote', name: 'b8' })
    expect(planBuild(slack, [machine('b8', { speed: 2 }), machine('b1'), slowMaster])).toEqual({ kind: 'remote', name: 'b1' })
    expect(planBuild(slack, [machine('b8', { speed: 2 }), full('b1'), slowMaster])).toEqual({ kind: 'local' })
    // With no local slot the master is no place to send it.
    expect(planBuild({ ...slack, amWilling: false }, [machine('b8', { speed: 2 }), full('b1'), slowMaster])).toEqual({ kind: 'remote', name: 'b8' })
    // 16 s and then its 90 s chain end after the running chains: it stays on b8.
    expect(planBuild({ ...slack, chainAfter: 90 }, [machine('b8', { speed: 2 }), full('b1'), slowMaster])).toEqual({ kind: 'remote', name: 'b8' })
  })

  it('reads policies written before the newer fields', () => {
    expect(planBuild(request({ amWilling: false }), [machine('b1', { load: 0.85 }), busyMaster()], { overloadThreshold: 0.9 }))
      .toEqual({ kind: 'remote', name: 'b1' })
  })
})

describe('assumedWork and runningWork', () => {
  const giant = { requiredFeatures: ['big-parallel'] }
  const ordinary = { requiredFeatures: [] }
  const typicals = { typicalWork: 20, typicalBigParallelWork: 900 }

  it('plan with a build\'s own work, else a typical one of its kind, else for big-parallel the policy\'s', () => {
    expect(assumedWork({ ...giant, expectedWork: 5 }, typicals)).toBe(5)
    expect(assumedWork(giant, typicals)).toBe(900)
    expect(assumedWork(ordinary, typicals)).toBe(20)
    expect(assumedWork(giant, { typicalWork: 20 })).toBe(defaultPlanPolicy.bigParallelWork)
    expect(assumedWork(giant, {}, { overloadThreshold: 0.8, bigParallelWork: 50 })).toBe(50)
    expect(assumedWork(ordinary, {})).toBeUndefined()
  })

  it('expect a running giant to end by that work, and give an ordinary build with no history no end', () => {
    expect(runningWork(giant, typicals)).toBe(900)
    expect(runningWork({ ...ordinary, expectedWork: 7 }, typicals)).toBe(7)
    expect(runningWork(ordinary, typicals)).toBeUndefined()
  })
})

describe('fastestSeconds', () => {
  it('is the build alone on the machine fastest for it, with its own work, a typical one, or the big-parallel default', () => {
    const candidates = [machine('b1', { speed: 2, slotsInUse: 2, load: 1 }), master({ speed: 1 })]
    expect(fastestSeconds({ system: 'x86_64-linux', requiredFeatures: [], expectedWork: 40 }, candidates)).toBe(20)
    expect(fastestSeconds({ system: 'x86_64-linux', requiredFeatures: [], typicalWork: 10 }, candidates)).toBe(5)
    // 8 cores of the master at speed 1 against 4 of b1 at speed 2: a tie.
    expect(fastestSeconds({ system: 'x86_64-linux', requiredFeatures: ['big-parallel'] }, candidates)).toBe(defaultPlanPolicy.bigParallelWork / 8)
    expect(fastestSeconds({ system: 'x86_64-linux', requiredFeatures: [] }, candidates)).toBe(0)
    expect(fastestSeconds({ system: 'riscv64-linux', requiredFeatures: [], expectedWork: 40 }, candidates)).toBe(0)
  })
})

describe('expectedRate', () => {
  it('is the speed while a core is free, and shares the cores beyond', () => {
    expect(expectedRate(machine('b', { speed: 2, cores: 4, slotsInUse: 2 }))).toBe(2)
    expect(expectedRate(machine('b', { speed: 2, cores: 4, load: 1 }))).toBeCloseTo(2 * 4 / 5)
  })

  it('counts the cores a big-parallel build uses, up to bigParallelCores', () => {
    const big = { requiredFeatures: ['big-parallel'] }
    expect(expectedRate(machine('b', { cores: 4 }), big)).toBe(4)
    expect(expectedRate(machine('b', { cores: 32 }), big)).toBe(defaultPlanPolicy.bigParallelCores)
  })
})

describe('canBuild', () => {
  it.each<[string[], string[], string[], boolean]>([
    [[], [], [], true],
    [['big-parallel'], ['big-parallel'], [], true],
    [['kvm'], ['big-parallel'], [], false],
    [['kvm'], [], ['kvm'], true],
    [[], [], ['kvm'], false]
  ])('required %j on supported %j, mandatory %j: %s', (required, supported, mandatory, able) => {
    expect(canBuild(machine('b', { supportedFeatures: supported, mandatoryFeatures: mandatory }), request({ requiredFeatures: required }))).toBe(able)
  })
})
