import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { nixLog } from '../../../../cli/build-hook/nix-log.ts'
import { BuildHookProxy, type BuildHookComponents, type BuildHookInit } from '../../../../cli/build-hook/proxy.ts'
import { encodeSettings, encodeTry } from '../../../../cli/build-hook/messages.ts'
import { encodeStrings } from '../../../../cli/build-hook/protocol.ts'
import { RealHook } from '../../../../cli/build-hook/real-hook.ts'
import { rootsFile } from '../../../../cli/build-hook/run-roots.ts'
import { Collector, makeFakeHook, nixSettings, nixTry, type FakeHook } from './fake-hook.ts'

const AGENT_FILE = '/var/lib/buildmesh/nix-machines'
const line = (host: string): string => `ssh-ng://root@${host} x86_64-linux /k 2 1 - - -`

/**
 * The hook between a scripted Nix and a fake agent, with fake-build-remote.ts as Nix's own hook.
 * (Hand-overs, where that hook talks to Nix directly, are tested through the real command.)
 */
describe('the build hook proxy', () => {
  let fake: FakeHook
  let input: PassThrough
  let output: Collector
  let calls: Array<[string, unknown]>
  /** Milliseconds the hook slept, and the others that passed meanwhile at each sleep: its clock. */
  let slept: number
  let meanwhile: number

  beforeEach(async () => {
    fake = await makeFakeHook()
    input = new PassThrough()
    output = new Collector()
    calls = []
    slept = 0
    meanwhile = 0
  })
  afterEach(async () => {
    await rm(fake.dir, { recursive: true, force: true })
  })

  /** The agent answers each `decide` with the next of `answers`, each `release` with the next of `releases`. */
  function proxy (answers: unknown[], env: NodeJS.ProcessEnv = {}, init: Partial<BuildHookInit> = {}, releases: unknown[] = [], more: Partial<BuildHookComponents> = {}): BuildHookProxy {
    return new BuildHookProxy({
      input,
      output,
      askAgent: async (method, params) => {
        calls.push([method, params])
        return method === 'decide' ? answers.shift() : releases.shift() ?? { released: true }
      },
      sleep: async (ms) => {
        calls.push(['sleep', ms])
        slept += ms + meanwhile
      },
      now: () => slept,
      readText: async () => null,
      startRealHook: async (mode) => await RealHook.start({
        command: { file: fake.script, argv0: 'build-remote' },
        verbosity: '4',
        passFds: [],
        env: { ...process.env, FAKE_RECORD: fake.record, ...env }
      }, mode),
      log: nixLog(output, 4),
      ...more
    }, { agentMachinesFile: AGENT_FILE, ...init })
  }

  it('answers local, impossible and postpone itself, asking the agent each time', async () => {
    const running = proxy([{ kind: 'local' }, { kind: 'impossible' }, { kind: 'postpone' }]).run()
    input.end(Buffer.concat([nixSettings(`${line('10.0.0.1')};${line('10.0.0.2')}`), nixTry(1).bytes, nixTry(2).bytes, nixTry(3, false).bytes]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# decline', '# decline', '# postpone'])
    expect(calls).toEqual([1, 2, 3].map((n) => ['decide', {
      maxJobs: 1, system: 'x86_64-linux', requiredFeatures: [], amWilling: n !== 3, drvPath: nixTry(n).request.drvPath, allowedHosts: ['10.0.0.1', '10.0.0.2'], forecast: true
    }]))
    expect(await fake.records()).toEqual([])
  })

  it('asks ssh once what the setting\'s named hosts stand for, and tells the agent with every request', async () => {
    const asked: string[] = []
    const sshHostName = async (host: string): Promise<string | null> => {
      asked.push(host)
      return host === 'kana' ? '10.0.0.2' : host
    }
    const running = proxy([{ kind: 'postpone' }, { kind: 'postpone' }], {}, {}, [], { sshHostName }).run()
    input.end(Buffer.concat([nixSettings(`${line('kana')};${line('ruby')};${line('10.0.0.3')}`), nixTry(1).bytes, nixTry(2).bytes]))
    expect(await running).toBe(0)
    expect(asked).toEqual(['kana', 'ruby'])
    expect(calls.map(([, params]) => (params as Record<string, unknown>).sshHostNames)).toEqual([{ kana: '10.0.0.2' }, { kana: '10.0.0.2' }])
  })

  it('builds on the agent\'s choice through Nix\'s own hook, set to that one machine, then only passes bytes', async () => {
    const running = proxy([{ kind: 'remote', host: '10.0.0.1', nixLine: line('10.0.0.1'), reservation: 'r-1' }], { FAKE_EXIT: '7' }).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, true).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input', '/nix/store/b-input']), encodeStrings(['out'])]))
    expect(await running).toBe(7)

    // Nix could build it here: the answer waits for Nix's own hook's, and its log lines come
    // first (Nix shows them), then the answer and the store URI Nix reads after it.
    expect(output.text).toBe([
      'plain line from the fake',
      '@nix {"action":"msg","level":1,"msg":"fake: connecting"}',
      '# accept',
      'ssh-ng://root@10.0.0.1',
      '@nix {"action":"msg","level":0,"msg":"fake: built"}',
      ''
    ].join('\n').replace(/^/, `@nix {"action":"msg","level":4,"msg":"buildmesh: ${nixTry(1).request.drvPath}: build on 10.0.0.1"}\n`))
    expect(await fake.records()).toEqual([
      { argv: ['4'], builders: line('10.0.0.1'), settings: 3 },
      { try: nixTry(1, true).request },
      { inputs: ['/nix/store/a-input', '/nix/store/b-input'], outputs: ['out'], stdinEnded: true }
    ])
    // The agent's own file leaves it the whole choice: no allowed hosts. The slot is given back,
    // and as the build failed there, its time teaches the agent nothing.
    expect(calls).toEqual([
      ['decide', { maxJobs: 1, system: 'x86_64-linux', requiredFeatures: [], amWilling: true, drvPath: nixTry(1).request.drvPath, forecast: true }],
      ['release', { reservation: 'r-1', outcome: 'failed' }]
    ])
  })

  it('accepts at once a build Nix cannot build here now, before Nix\'s own hook has connected, and hands that hook Nix\'s input once it takes it', async () => {
    const running = proxy([{ kind: 'remote', host: '10.0.0.1', nixLine: line('10.0.0.1'), reservation: 'r-1' }], { FAKE_EXIT: '0' }).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, false).bytes]))
    // Nix has its answer and the store before Nix's own hook has said a word.
    await output.waitFor('ssh-ng://root@10.0.0.1\n')
    expect(output.text).not.toContain('fake')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    // One answer and one store line: Nix's own hook's are not passed on; its log lines are.
    expect(output.text).toBe([
      `@nix {"action":"msg","level":4,"msg":"buildmesh: ${nixTry(1).request.drvPath}: build on 10.0.0.1"}`,
      '# accept',
      'ssh-ng://root@10.0.0.1',
      'plain line from the fake',
      '@nix {"action":"msg","level":1,"msg":"fake: connecting"}',
      '@nix {"action":"msg","level":0,"msg":"fake: built"}',
      ''
    ].join('\n'))
    expect((await fake.records()).filter((r) => 'inputs' in r)).toEqual([{ inputs: ['/nix/store/a-input'], outputs: ['out'], stdinEnded: true }])
    expect(calls.at(-1)).toEqual(['release', { reservation: 'r-1', outcome: 'built' }])
  })

  it('accepts at once a build Nix has a slot for but could not build here, its system not this host\'s', async () => {
    const arm = { amWilling: true, system: 'aarch64-linux', drvPath: nixTry(1).request.drvPath, requiredFeatures: [] }
    const running = proxy([{ kind: 'remote', nixLine: line('10.0.0.1'), reservation: 'r-1' }], { FAKE_EXIT: '0' }).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`, { system: 'x86_64-linux', 'extra-platforms': 'i686-linux' }), encodeTry(arm)]))
    await output.waitFor('ssh-ng://root@10.0.0.1\n')
    expect(output.text).not.toContain('fake')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# accept'])
  })

  it('builds a build accepted at once on another machine when the one chosen turns it down, waiting for one if none can take it yet', async () => {
    const running = proxy([
      { kind: 'remote', nixLine: line('10.0.0.2'), reservation: 'r-1' },
      // Never this host, and the one that turned it down left out: nothing can build it, for now.
      { kind: 'impossible' },
      { kind: 'remote', nixLine: line('10.0.0.1'), reservation: 'r-2' }
    ], { FAKE_EXIT: '0' }, { nixRun: 4242 }).run()
    // Waiting for one, it asks again at the run's polls.
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`, { 'build-poll-interval': '1' }), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    const drv = nixTry(1).request.drvPath
    expect(output.text.split('\n').filter((l) => l.startsWith('# ') || l.startsWith('ssh-ng://'))).toEqual(['# accept', 'ssh-ng://root@10.0.0.2'])
    expect(output.text).toContain(`"msg":"buildmesh: 10.0.0.2 did not take ${drv}; building it on another machine"`)
    expect(output.text).toContain(`"msg":"buildmesh: no machine that may build ${drv} has a free slot; asking again every 1 s"`)
    expect(output.text).toContain(`"msg":"buildmesh: building ${drv} on 10.0.0.1"`)
    const records = await fake.records()
    expect(records.filter((r) => 'builders' in r).map((r) => r.builders)).toEqual([line('10.0.0.2'), line('10.0.0.1')])
    expect(records.filter((r) => 'inputs' in r)).toEqual([{ inputs: ['/nix/store/a-input'], outputs: ['out'], stdinEnded: true }])
    const decide = { nixRun: 4242, pollSeconds: 1, system: 'x86_64-linux', requiredFeatures: [], amWilling: false, drvPath: drv }
    expect(calls).toEqual([
      ['decide', { maxJobs: 1, ...decide, forecast: true }],
      ['release', { reservation: 'r-1', outcome: 'declined' }],
      ['decide', { ...decide, forecast: false, remoteOnly: true }],
      ['sleep', 1000],
      ['decide', { ...decide, forecast: false, remoteOnly: true }],
      ['release', { reservation: 'r-2', outcome: 'built' }]
    ])
  })

  it('tells the agent a build came back built only when Nix\'s own hook ends well', async () => {
    const running = proxy([{ kind: 'remote', host: '10.0.0.1', nixLine: line('10.0.0.1'), reservation: 'r-1' }], { FAKE_EXIT: '0' }).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    expect(calls.at(-1)).toEqual(['release', { reservation: 'r-1', outcome: 'built' }])
  })

  it('builds again on another builder, for the same request and input, when the agent says the one it was on was lost', async () => {
    const running = proxy([
      { kind: 'remote', nixLine: line('10.0.0.5'), reservation: 'r-1' },
      // Asked again, never for this host: nothing free at first, then b1.
      { kind: 'postpone' },
      { kind: 'remote', nixLine: line('10.0.0.1'), reservation: 'r-2' }
    ], { FAKE_EXIT: '0' }, { nixRun: 4242 }, [{ released: true, lost: true }]).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)

    const drv = nixTry(1).request.drvPath
    // Nix read one answer and one store, the first's; the log says where the build went.
    expect(output.text.split('\n').filter((l) => l.startsWith('# ') || l.startsWith('ssh-ng://'))).toEqual(['# accept', 'ssh-ng://root@10.0.0.5'])
    expect(output.text).toContain('error: fake: the connection to 10.0.0.5 was lost\n')
    expect(output.text).toContain(`"msg":"buildmesh: 10.0.0.5 was lost while building ${drv}; building it on another machine"`)
    expect(output.text).toContain(`"msg":"buildmesh: no machine that may build ${drv} has a free slot; asking again every 5 s"`)
    expect(output.text).toContain(`"msg":"buildmesh: building ${drv} on 10.0.0.1"`)
    expect(output.text).toMatch(/"msg":"fake: built"\}\n$/)
    const records = await fake.records()
    expect(records.filter((r) => 'builders' in r).map((r) => r.builders)).toEqual([line('10.0.0.5'), line('10.0.0.1')])
    expect(records.filter((r) => 'inputs' in r)).toEqual(Array(2).fill({ inputs: ['/nix/store/a-input'], outputs: ['out'], stdinEnded: true }))
    // The run goes with every ask: the agent forgets what a stopped run reserved.
    const decide = { nixRun: 4242, system: 'x86_64-linux', requiredFeatures: [], amWilling: false, drvPath: drv }
    expect(calls).toEqual([
      ['decide', { maxJobs: 1, ...decide, forecast: true }],
      ['release', { reservation: 'r-1', outcome: 'failed' }],
      ['decide', { ...decide, forecast: false, remoteOnly: true }],
      ['sleep', 5000],
      ['decide', { ...decide, forecast: false, remoteOnly: true }],
      ['release', { reservation: 'r-2', outcome: 'built' }]
    ])
  })

  it('gives up after 30 minutes of machines that would not take the lost build, with the failure Nix\'s own hook had', async () => {
    const declining = { kind: 'remote', nixLine: line('10.0.0.2'), reservation: 'r-2' }
    const running = proxy([{ kind: 'remote', nixLine: line('10.0.0.5'), reservation: 'r-1' }, ...Array(10).fill(declining)], {}, {}, [{ released: true, lost: true }]).run()
    // Each try and its poll take 10 minutes here.
    meanwhile = 10 * 60_000 - 5000
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(1)
    expect(calls.filter(([method, params]) => method === 'release' && (params as { outcome: string }).outcome === 'declined')).toHaveLength(4)
    expect(slept).toBe(30 * 60_000)
    expect(output.text).toContain(`"msg":"buildmesh: no other machine took ${nixTry(1).request.drvPath}"`)
  })

  it('fails the build as Nix\'s own hook did when no other machine can build it', async () => {
    const running = proxy([
      { kind: 'remote', nixLine: line('10.0.0.5'), reservation: 'r-1' },
      { kind: 'impossible' }
    ], {}, {}, [{ released: true, lost: true }]).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(1)
    expect(output.text).toContain(`"msg":"buildmesh: no other machine took ${nixTry(1).request.drvPath}"`)
  })

  it('tells Nix to keep waiting itself where the agent answered ahead, within one round, and reports it next time', async () => {
    const drv = (n: number): string => nixTry(n).request.drvPath
    const running = proxy([
      { kind: 'local', declines: [drv(2), drv(4), drv(5)] },
      { kind: 'local', declines: [drv(4), drv(6)] },
      { kind: 'local' },
      { kind: 'local' }
    ]).run()
    input.end(Buffer.concat([
      nixSettings(`@${AGENT_FILE}`),
      // A round: 2 was answered ahead; 3 was not, so the agent is asked, and its answer ahead replaces the first.
      ...[1, 2, 3, 4].map((n) => nixTry(n, false).bytes),
      // 6 comes after the last asked, but with another amWilling: another round.
      nixTry(6, true).bytes,
      // 2 comes before the last asked: a new round, where nothing answered ahead holds.
      nixTry(2, false).bytes
    ]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(Array(6).fill('# decline'))
    expect(output.text).toContain(`${drv(2)}: still waits, as the agent answered ahead`)
    expect(calls.map(([, params]) => [(params as { drvPath: string }).drvPath, (params as { served?: string[] }).served])).toEqual([
      [drv(1), undefined],
      [drv(3), [drv(2)]],
      [drv(6), [drv(4)]],
      [drv(2), undefined]
    ])
  })

  it('sends the agent the run\'s derivations from its temporary roots, a piece at a time, as the agent says what it holds', async () => {
    const drv = (n: number): string => nixTry(n).request.drvPath
    const roots = join(fake.dir, 'temproots-4242')
    const text = `${drv(1)}\0${drv(2)}\0`
    await writeFile(roots, text)
    const size = Buffer.byteLength(text)
    const running = proxy([{ kind: 'local', runRootsHeld: 0 }, { kind: 'local', runRootsHeld: size }, { kind: 'local', runRootsHeld: size }], {}, { nixRun: 4242, runRoots: rootsFile(roots) }).run()
    input.end(Buffer.concat([nixSettings(`@${AGENT_FILE}`), ...[1, 2, 3].map((n) => nixTry(n, true).bytes)]))
    expect(await running).toBe(0)
    expect(calls.map(([, params]) => (params as { nixRun: number }).nixRun)).toEqual([4242, 4242, 4242])
    expect(calls.map(([, params]) => {
      const roots = (params as { runRoots?: Record<string, unknown> }).runRoots
      return roots === undefined ? undefined : { from: roots.from, to: roots.to, size: roots.size, paths: roots.paths }
    })).toEqual([
      { from: size, to: size, size, paths: [] },
      { from: 0, to: size, size, paths: [drv(1), drv(2)] },
      // The agent holds it all: nothing more goes with the requests.
      undefined
    ])
  })

  it('passes on a machine\'s decline or postpone where Nix could build it here, and asks the agent again', async () => {
    const running = proxy([
      { kind: 'remote', nixLine: line('10.0.0.2'), reservation: 'r-1' },
      { kind: 'remote', nixLine: line('10.0.0.3'), reservation: 'r-2' },
      { kind: 'local' }
    ]).run()
    input.end(Buffer.concat([nixSettings(`@${AGENT_FILE}`), nixTry(1, true).bytes, nixTry(2, true).bytes, nixTry(3, true).bytes]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# decline', '# postpone', '# decline'])
    // Nix's own hook would not build there: the agent checks that builder rather than learn from it.
    expect(calls.filter(([method]) => method === 'release')).toEqual(['r-1', 'r-2'].map((reservation) => ['release', { reservation, outcome: 'declined' }]))
    const records = await fake.records()
    expect(records.filter((r) => 'builders' in r).map((r) => r.builders)).toEqual([line('10.0.0.2'), line('10.0.0.3')])
    // Each of Nix's hooks saw its one request, then the end of its input.
    expect(records.filter((r) => 'ended' in r)).toHaveLength(2)
  })

  it('says a lost build waits for its builder where the setting names no other', async () => {
    const running = proxy([{ kind: 'remote', nixLine: line('10.0.0.5'), reservation: 'r-1' }, { kind: 'impossible' }], {}, {}, [{ released: true, lost: true }]).run()
    input.write(Buffer.concat([nixSettings(line('10.0.0.5')), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(1)
    expect(output.text).toContain(`"msg":"buildmesh: 10.0.0.5 was lost while building ${nixTry(1).request.drvPath}; building it there again once it is back, the only machine it may use"`)
  })

  it('accepts at once a build the setting limits to named builders, which a decline there never brings here, and moves it to another of them', async () => {
    const running = proxy([
      { kind: 'remote', nixLine: line('10.0.0.2'), reservation: 'r-1' },
      { kind: 'remote', nixLine: line('10.0.0.1'), reservation: 'r-2' }
    ], { FAKE_EXIT: '0' }).run()
    input.write(Buffer.concat([nixSettings(`${line('10.0.0.2')};${line('10.0.0.1')}`), nixTry(1, true).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# accept'])
    expect(calls.filter(([method]) => method === 'decide').map(([, params]) => (params as { allowedHosts: string[], remoteOnly?: boolean })))
      .toMatchObject([{ allowedHosts: ['10.0.0.2', '10.0.0.1'] }, { allowedHosts: ['10.0.0.2', '10.0.0.1'], remoteOnly: true }])
  })

  it('tells the agent its run of Nix, itself, and how often Nix polls, as Nix\'s settings say', async () => {
    const settings = (poll: string): Buffer => encodeSettings([
      { name: 'builders', value: Buffer.from(`@${AGENT_FILE}`) },
      { name: 'build-poll-interval', value: Buffer.from(poll) }
    ])
    for (const [poll, sent] of [['1', 1], ['0', 1], ['5', 5], ['often', undefined]] as const) {
      calls = []
      input = new PassThrough()
      output = new Collector()
      const running = proxy([{ kind: 'postpone' }], {}, { nixRun: 4242, hookPid: 4243 }).run()
      input.end(Buffer.concat([settings(poll), nixTry(1).bytes]))
      expect(await running).toBe(0)
      expect(calls[0]?.[1]).toMatchObject({ nixRun: 4242, hookPid: 4243 })
      expect((calls[0]?.[1] as { pollSeconds?: number }).pollSeconds).toBe(sent)
    }
  })

  it('builds on a machine the setting names beside the agent\'s file, which the mesh does not know, when no member can build it', async () => {
    const running = proxy([{ kind: 'impossible', strangers: ['10.0.0.1'] }], { FAKE_EXIT: '0' }).run()
    input.write(Buffer.concat([nixSettings(`@${AGENT_FILE};${line('10.0.0.1')}`), nixTry(1, false).bytes]))
    await output.waitFor('# accept\n')
    input.end(Buffer.concat([encodeStrings(['/nix/store/a-input']), encodeStrings(['out'])]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# ') || l.startsWith('ssh-ng://'))).toEqual(['# accept', 'ssh-ng://root@10.0.0.1'])
    expect(calls).toEqual([['decide', { maxJobs: 1, system: 'x86_64-linux', requiredFeatures: [], amWilling: false, drvPath: nixTry(1).request.drvPath, outsideHosts: ['10.0.0.1'], forecast: true }]])
    const records = await fake.records()
    expect(records.filter((r) => 'builders' in r).map((r) => r.builders)).toEqual([line('10.0.0.1')])
    expect(records.filter((r) => 'inputs' in r)).toEqual([{ inputs: ['/nix/store/a-input'], outputs: ['out'], stdinEnded: true }])
  })

  it('asks one of Nix\'s hooks about the machines outside the mesh while they postpone, and only where one could build it', async () => {
    const arm = 'ssh-ng://root@10.0.0.1 aarch64-linux /k 1 1 - - -'
    const running = proxy([
      { kind: 'postpone', strangers: ['10.0.0.3', '10.0.0.1'] },
      { kind: 'impossible', strangers: ['10.0.0.3', '10.0.0.1'] },
      { kind: 'local', strangers: ['10.0.0.3', '10.0.0.1'] },
      // Now a member has 10.0.0.3: nothing outside the mesh could build it.
      { kind: 'impossible', strangers: ['10.0.0.1'] }
    ]).run()
    input.end(Buffer.concat([nixSettings(`${line('10.0.0.3')}\n${arm}`), ...[1, 2, 3, 4].map((n) => nixTry(n, false).bytes)]))
    expect(await running).toBe(0)
    // Nix's own hook postponed all three; the third, which the agent has wait for one of the run's
    // builds to end (no local slot), is still declined, so Nix asks again at that end, not at a
    // poll; the fourth has no machine.
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# postpone', '# postpone', '# decline', '# decline'])
    const records = await fake.records()
    expect(records.filter((r) => 'builders' in r).map((r) => r.builders)).toEqual([`${line('10.0.0.3')}\n${arm}`])
    expect(records.filter((r) => 'try' in r).map((r) => (r.try as { drvPath: string }).drvPath)).toEqual([1, 2, 3].map((n) => nixTry(n).request.drvPath))
    // Stopped with the rest of the hook.
    expect(records.at(-1)).toEqual({ ended: true })
  })

  it('answers as the agent did when Nix\'s hook for the machines outside the mesh ends without answering, and starts another next time', async () => {
    const running = proxy([{ kind: 'impossible', strangers: ['10.0.0.4'] }, { kind: 'postpone', strangers: ['10.0.0.4'] }]).run()
    input.end(Buffer.concat([nixSettings(`@${AGENT_FILE};${line('10.0.0.4')}`), nixTry(1, true).bytes, nixTry(2, false).bytes]))
    expect(await running).toBe(0)
    expect(output.text.split('\n').filter((l) => l.startsWith('# '))).toEqual(['# decline', '# postpone'])
    expect(output.text).toContain('"msg":"buildmesh: Nix\'s build hook for the machines outside the mesh ended without answering"')
    expect((await fake.records()).filter((r) => 'builders' in r)).toHaveLength(2)
  })

  it('answers decline-permanently to an empty builders setting, as Nix\'s own hook does, without asking', async () => {
    const running = proxy([]).run()
    input.end(Buffer.concat([nixSettings(' # none '), nixTry(1).bytes]))
    expect(await running).toBe(0)
    expect(output.text).toBe('# decline-permanently\n')
    expect(calls).toEqual([])
  })
})
