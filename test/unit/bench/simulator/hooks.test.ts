import { describe, expect, it } from 'vitest'
import type { HookRequest, MachineView, PoolView } from '../../../../bench/simulator/hook.ts'
import { buildmeshHook } from '../../../../bench/simulator/hooks/buildmesh.ts'
import { guixOffloadHook } from '../../../../bench/simulator/hooks/guix-offload.ts'
import { nixStaticHook } from '../../../../bench/simulator/hooks/nix-static.ts'
import { SYSTEM, type Machine } from '../../../../bench/simulator/machines.ts'
import { createRng } from '../../../../bench/simulator/rng.ts'

const machine = (name: string, speed: number, slots = 2, over: Partial<Machine> = {}): Machine =>
  ({ name, local: false, systems: [SYSTEM], supportedFeatures: [], mandatoryFeatures: [], slots, cores: 4, speed, ...over })
const view = (m: Machine, running = 0, load = running / m.cores): MachineView =>
  ({ machine: m, load, running: Array.from({ length: running }, (_, i) => ({ name: `r${i}`, startedAt: 0, pastWork: undefined, requiredFeatures: [] })) })
const pool = (...machines: MachineView[]): PoolView => ({ now: 0, machines, built: new Set() })
const ask = (over: Partial<HookRequest> = {}): HookRequest =>
  ({ amWilling: true, system: SYSTEM, requiredFeatures: [], name: 'x', pastWork: undefined, ...over })
const master = machine('master', 4, 4, { local: true, cores: 8 })

describe('nixStaticHook', () => {
  const hook = nixStaticHook()

  it('takes a free builder even when the master is idle and faster', () => {
    expect(hook(ask(), pool(view(master), view(machine('b1', 1))))).toEqual({ kind: 'accept', machine: 'b1' })
  })

  it('ranks by its own builds over speedFactor, then the faster, then file order', () => {
    expect(hook(ask(), pool(view(master), view(machine('b1', 1), 1), view(machine('b2', 1), 0)))).toEqual({ kind: 'accept', machine: 'b2' })
    // 2 builds at speedFactor 4 rank before 1 at speedFactor 1.
    expect(hook(ask(), pool(view(master), view(machine('b1', 1), 1), view(machine('b2', 4, 4), 2)))).toEqual({ kind: 'accept', machine: 'b2' })
    expect(hook(ask(), pool(view(master), view(machine('b1', 1)), view(machine('b2', 2))))).toEqual({ kind: 'accept', machine: 'b2' })
    expect(hook(ask(), pool(view(master), view(machine('b1', 1)), view(machine('b2', 1))))).toEqual({ kind: 'accept', machine: 'b1' })
  })

  it('ignores a builder\'s load from others', () => {
    expect(hook(ask(), pool(view(master), view(machine('b1', 1), 0, 1)))).toEqual({ kind: 'accept', machine: 'b1' })
  })

  it('declines to build locally when every builder is full and a local slot is free, and postpones otherwise', () => {
    const full = view(machine('b1', 1), 2)
    expect(hook(ask(), pool(view(master), full))).toEqual({ kind: 'decline' })
    expect(hook(ask({ amWilling: false }), pool(view(master, 4), full))).toEqual({ kind: 'postpone' })
  })
})

describe('guixOffloadHook', () => {
  const hook = guixOffloadHook(createRng(1))

  it('takes the fastest builder with a free slot under the overload threshold', () => {
    expect(hook(ask(), pool(view(master), view(machine('b1', 1)), view(machine('b2', 3), 1), view(machine('b3', 2))))).toEqual({ kind: 'accept', machine: 'b2' })
    expect(hook(ask(), pool(view(master), view(machine('b1', 1)), view(machine('b2', 3), 1, 0.8)))).toEqual({ kind: 'accept', machine: 'b1' })
  })

  it('postpones rather than build on the master', () => {
    expect(hook(ask(), pool(view(master), view(machine('b1', 1), 2)))).toEqual({ kind: 'postpone' })
  })

  it('declines only what no builder could ever build', () => {
    expect(hook(ask({ system: 'aarch64-linux' }), pool(view(master), view(machine('b1', 1))))).toEqual({ kind: 'decline' })
  })
})

describe('buildmeshHook', () => {
  it('keeps a build on the idle fast master', () => {
    expect(buildmeshHook({ history: true })(ask({ pastWork: 40 }), pool(view(master), view(machine('b1', 1))))).toEqual({ kind: 'decline' })
  })

  it('does not offer the same free local slot twice in one round', () => {
    const hook = buildmeshHook({ history: false })
    const almostFull = pool(view(master, 3), view(machine('b1', 1)))
    expect(hook(ask({ name: 'a' }), almostFull)).toEqual({ kind: 'decline' })
    // Nix still says it has a slot: the build declined above has not started yet.
    expect(hook(ask({ name: 'b' }), almostFull)).toEqual({ kind: 'accept', machine: 'b1' })
  })

  it('without history, sees no work: a long build goes to a free builder when the master is full', () => {
    // The master's four builds are ones the hook kept local: the agent knows when each started.
    const keepFour = (hook: ReturnType<typeof buildmeshHook>): PoolView => {
      for (let i = 0; i < 4; i++) expect(hook(ask({ name: `r${i}`, pastWork: 4 }), pool(view(master), view(machine('b1', 1))))).toEqual({ kind: 'decline' })
      return pool(view(master, 4), view(machine('b1', 1)))
    }
    const blind = buildmeshHook({ history: false })
    expect(blind(ask({ amWilling: false, pastWork: 1000 }), keepFour(blind))).toEqual({ kind: 'accept', machine: 'b1' })
    const knowing = buildmeshHook({ history: true })
    expect(knowing(ask({ amWilling: false, pastWork: 1000 }), keepFour(knowing))).toEqual({ kind: 'decline' })
  })

  it('counts the builds it told to wait: a short one leaves the master to a long one about to ask again', () => {
    const hook = buildmeshHook({ history: true })
    const b1 = machine('b1', 1)
    const oneSlot = { ...master, slots: 1 }
    expect(hook(ask({ name: 'short', pastWork: 10 }), pool(view(oneSlot), view(b1)))).toEqual({ kind: 'decline' })
    // Nix has no local slot for the long one: it waits for the short one to end.
    expect(hook(ask({ name: 'long', amWilling: false, pastWork: 400 }), pool(view(oneSlot, 1), view(b1)))).toEqual({ kind: 'decline' })
    // The short one ended; Nix asks about a new short build before it gets back to the long one.
    const later = { ...pool(view(oneSlot), view(b1)), now: 3, built: new Set(['short']) }
    expect(hook(ask({ name: 'next', pastWork: 10 }), later)).toEqual({ kind: 'accept', machine: 'b1' })
    expect(hook(ask({ name: 'long', amWilling: true, pastWork: 400 }), later)).toEqual({ kind: 'decline' })
  })

  it('expects a build it kept local to end when its work says, however late in the run', () => {
    const hook = buildmeshHook({ history: true })
    const b1 = machine('b1', 1)
    const oneSlot = { ...master, slots: 1 }
    // 400 units at 4 per second: the master is busy until 200 s.
    expect(hook(ask({ name: 'long', pastWork: 400 }), { ...pool(view(oneSlot), view(b1)), now: 100 })).toEqual({ kind: 'decline' })
    // At 101 s, waiting for the master (99 s + 10 s) would be slower than b1 (40 s).
    const busy = { ...pool(view(oneSlot, 1), view(b1)), now: 101 }
    busy.machines[0]?.running.splice(0, 1, { name: 'long', startedAt: 100, pastWork: 400, requiredFeatures: [] })
    expect(hook(ask({ name: 'next', amWilling: false, pastWork: 40 }), busy)).toEqual({ kind: 'accept', machine: 'b1' })
  })


  it('answers the rest of a round itself where the agent answered ahead, and asks the agent when a new round starts', () => {
    const hook = buildmeshHook({ history: true })
    const oneSlot = { ...master, slots: 1 }
    const full = pool(view(oneSlot, 1), view(machine('b1', 1, 1), 1))
    expect(hook(ask({ name: 'a', pastWork: 10 }), pool(view(oneSlot), view(machine('b1', 1, 1), 1)))).toEqual({ kind: 'decline' })
    for (const name of ['d', 'b', 'c']) expect(hook(ask({ name, amWilling: false, pastWork: 10 }), full)).toEqual({ kind: 'decline' })
    // A round after a build ended: b is asked first; c and d come after it and nothing is free.
    const answers = ['b', 'c', 'd'].map((name) => hook(ask({ name, amWilling: false, pastWork: 10 }), { ...full, now: 1 }))
    expect(answers).toEqual([{ kind: 'decline' }, { kind: 'decline', served: true }, { kind: 'decline', served: true }])
    // b again comes before d, the last asked: a new round, which the agent answers.
    expect(hook(ask({ name: 'b', amWilling: false, pastWork: 10 }), { ...full, now: 2 })).toEqual({ kind: 'decline' })
  })
})

describe('buildmeshHook reading the graph as the agent reads the store', () => {
  it('sends a build nothing waits for to a slower free builder while the master builds a chain', () => {
    const dependents = {
      users: new Map([['compiler', ['app']], ['app', []], ['docs', []]]),
      requiredFeatures: new Map<string, string[]>(),
      pastWork: new Map([['compiler', 400], ['app', 40], ['docs', 8]])
    }
    const b1 = machine('b1', 1)
    for (const [init, docsOn] of [[{ history: true, dependents }, { kind: 'accept', machine: 'b1' }], [{ history: true }, { kind: 'decline' }]] as const) {
      const hook = buildmeshHook(init)
      expect(hook(ask({ name: 'compiler', pastWork: 400 }), pool(view(master), view(b1)))).toMatchObject({ kind: 'decline' })
      expect(hook(ask({ name: 'docs', pastWork: 8 }), pool(view(master), view(b1)))).toMatchObject(docsOn)
    }
  })

  it('reads the store once for a build and what waits for it, and keeps Nix waiting on it only for a build that could start now', () => {
    const dependents = {
      users: new Map([['compiler', ['app']], ['app', []], ['docs', []]]),
      requiredFeatures: new Map<string, string[]>(),
      pastWork: new Map([['compiler', 400], ['app', 40], ['docs', 8]])
    }
    const hook = buildmeshHook({ history: true, dependents })
    const full = machine('b1', 1, 1)
    expect(hook(ask({ name: 'compiler', pastWork: 400 }), pool(view(master), view(full)))).toEqual({ kind: 'decline', readStore: true })
    // The app's chain came with the compiler's query.
    expect(hook(ask({ name: 'app', pastWork: 40, amWilling: false }), pool(view(master, 4), view(full, 1)))).not.toHaveProperty('readStore')
    // No slot anywhere: it waits whatever its chain, and the query runs meanwhile.
    expect(hook(ask({ name: 'docs', pastWork: 8, amWilling: false }), pool(view(master, 4), view(full, 1)))).not.toHaveProperty('readStore')
    expect(hook(ask({ name: 'docs', pastWork: 8 }), pool(view(master), view(full)))).not.toHaveProperty('readStore')
  })
})
