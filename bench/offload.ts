/*
 * Offload through the mesh, measured on a LAN of network namespaces (needs root):
 *   npm run bench:offload            (or: node bench/offload.ts, with Node >= 22.18)
 *
 * (a) Seconds from a builder agent's spawn to its line in the master's Nix file, on fresh hosts
 *     (new identity, new name, sshd already up), median of 5.
 * (b) Wall time of 12 independent 2 s derivations built with `nix-build --max-jobs 0` through the
 *     file the master agent writes, against a hand-written static machines file naming the same
 *     builders, key and host keys, both with Nix's own hook, and through that file with
 *     `mesh build-hook` deciding; runs rotate, median of each, with the ideal (12 x 2 s / slots)
 *     and the ratios. `--runs N` sets the rounds (default 5): Nix's 5 s poll for postponed
 *     builds makes single batches bimodal, so a close comparison wants more.
 * (c) Wall time of `mesh build --only b1 -- nix-build` of 6 independent 2 s derivations at
 *     `--max-jobs 1` through `mesh build-hook`: the builds that find b1's 2 slots taken are
 *     postponed (a decline would build them here), so Nix asks again at its polls. With
 *     `build-poll-interval = 1`, which mesh build sets, against Nix's 5 (NIX_CONFIG, which
 *     wins); alternating, median of `--runs`.
 * Builders advertise `--slots 2` and speed 1, each with a quiet load average of its own (the
 * machine has 2 cores; each host has its own store).
 */
import { readFile, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLan, type Lan } from '../test/lan/harness/lan.ts'
import { startSshd } from '../test/lan/harness/sshd.ts'
import { waitFor } from '../test/lan/harness/wait-for.ts'
import { fakeLoadavg, MESH, makeMeshKey, nixLines, readOr, spawnMesh, startMaster, writeHookScript } from '../test/lan/support/mesh.ts'
import { buildOnMesh, countByBuilder, median, startMeshBuilder, writeJobs, type MeshBuilder } from '../test/lan/support/offload.ts'
import { loadAverage } from './load-average.ts'

const SLOTS = 2
const BUILDERS = 3
const JOBS = 12
const JOB_SECONDS = 2
const ONLY_JOBS = 6
const LISTING_SAMPLES = 5
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '5' } } })
const BATCH_RUNS = Number(args.runs)
if (!Number.isInteger(BATCH_RUNS) || BATCH_RUNS < 1) throw new Error(`--runs ${args.runs}: expected a whole number >= 1`)

const s = (x: number): string => x.toFixed(2)

const SIDE_NAMES = {
  mesh: 'mesh agent\'s file, Nix\'s hook',
  static: 'static hand-written file, Nix\'s hook',
  hook: 'mesh agent\'s file, mesh build-hook'
} as const
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length

interface Listing {
  /** Seconds from spawn to the line in the Nix file, as polled every 10 ms. */
  listed: number
  /** Milliseconds from the master's log of writing that file to the builder's log of writing the master's key (positive: listed first). */
  keyAfterListingMs: number
}

/** The `time` of the first pino JSON line with message `msg` that `match` accepts. */
function logTime (output: string, msg: string, match: (entry: Record<string, unknown>) => boolean = () => true): number {
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue
    const entry = JSON.parse(line) as Record<string, unknown>
    if (entry.msg === msg && match(entry)) return entry.time as number
  }
  throw new Error(`no log line "${msg}"`)
}

async function timeToListing (lan: Lan, meshKey: string, master: Awaited<ReturnType<typeof startMaster>>, sample: number): Promise<Listing> {
  const nixFile = master.nixFile
  const host = await lan.addHost(`j${sample}`)
  const authorizedKeys = join(host.dir, 'state', 'authorized_keys')
  const sshd = await startSshd(host, { authorizedKeys })
  const line = `ssh-ng://root@${host.address} `
  const spawnedAt = performance.now()
  const agent = spawnMesh(host, ['agent', '--mesh-key', meshKey, '--state-dir', join(host.dir, 'state'), '--slots', String(SLOTS),
    '--ssh-host-key', `${sshd.hostKeyFile}.pub`, '--authorized-keys', authorizedKeys])
  await waitFor(async () => (await readOr(nixFile)).includes(line), { timeoutMs: 20_000, intervalMs: 10, what: `${host.name} in the master's Nix file` })
  const listed = performance.now() - spawnedAt
  // The log lines follow the writes they report, so they may lag the files: wait for them.
  const { ms: keyAfterListingMs } = await waitFor(() => ({
    ms: logTime(agent.output(), 'authorized master key') -
      logTime(master.process.output(), 'wrote Nix machines file', (e) => Array.isArray(e.builders) && e.builders.includes(host.name))
  }), { timeoutMs: 5000, what: `the log lines of ${host.name}'s listing and authorization` })
  await agent.stop()
  await sshd.process.stop()
  await waitFor(async () => !(await readOr(nixFile)).includes(line), { timeoutMs: 10_000, what: `${host.name} gone from the Nix file` })
  return { listed: listed / 1000, keyAfterListingMs }
}

/** The 8-column lines a person would write for the same builders, key and host keys. */
function staticMachines (builders: MeshBuilder[], keyFile: string): string {
  return builders.map((b) => `ssh-ng://root@${b.host.address} x86_64-linux ${keyFile} ${SLOTS} 1 - - ${b.sshd.hostKeyBase64}\n`).join('')
}

async function main (): Promise<void> {
  const loadBefore = await loadAverage()
  const lan = await createLan({ hosts: ['m', ...Array.from({ length: BUILDERS }, (_, i) => `b${i + 1}`)] })
  try {
    const m = lan.host('m')
    const meshKey = await makeMeshKey(lan)
    const master = await startMaster(m, { meshKey })
    const nixVersion = (await m.run('nix-build', ['--version'])).stdout.trim()

    const listings: Listing[] = []
    for (let i = 1; i <= LISTING_SAMPLES; i++) {
      const listing = await timeToListing(lan, meshKey, master, i)
      listings.push(listing)
      process.stderr.write(`listing sample ${i}: listed ${s(listing.listed)} s after spawn; master's key written ${listing.keyAfterListingMs} ms after the listing\n`)
    }

    // The hosts share this machine's load average, which the builds push past the overload
    // threshold on all of them at once: the agent would hold every build back for it. Each gets a
    // quiet one of its own and the same speed, as the static file says, so the sides differ only
    // in how they place the builds.
    const builderHosts = lan.hosts.filter((h) => /^b\d+$/.test(h.name))
    for (const h of builderHosts) await fakeLoadavg(h, 0.1)
    const builders = await Promise.all(builderHosts.map(async (h) => await startMeshBuilder(h, { meshKey, slots: SLOTS, speed: 1 })))
    await waitFor(async () => (await nixLines(master.nixFile)).length === BUILDERS, { timeoutMs: 10_000, what: 'every builder in the Nix file' })
    for (const b of builders) await waitFor(async () => (await readOr(b.authorizedKeys)).includes('buildmesh:'), { what: `the master's key on ${b.host.name}` })
    const staticFile = join(m.dir, 'static-machines')
    await writeFile(staticFile, staticMachines(builders, `${master.stateDir}/ssh/id_ed25519`))

    const hook = await writeHookScript(m, 'mesh-build-hook', ['--nix-machines', master.nixFile])
    const sides = [['mesh', master.nixFile, []], ['static', staticFile, []], ['hook', master.nixFile, ['--option', 'build-hook', hook]]] as const
    const times = { mesh: [] as number[], static: [] as number[], hook: [] as number[] }
    for (let run = 1; run <= BATCH_RUNS; run++) {
      // Rotate which goes first, so a first-of-round effect does not land on one side.
      for (const [kind, file, args] of [...sides.slice(run % 3), ...sides.slice(0, run % 3)]) {
        const jobs = await writeJobs(m.dir, `${lan.prefix}-${kind}-${run}`, JOBS, JOB_SECONDS)
        const { outputs, seconds } = await buildOnMesh(m, jobs, file, 120_000, [...args])
        const counts = countByBuilder(outputs)
        if (outputs.length !== JOBS || [...counts.keys()].some((name) => !/^b\d+$/.test(name))) throw new Error(`${kind} run ${run}: bad outputs ${JSON.stringify(outputs)}`)
        times[kind].push(seconds)
        process.stderr.write(`${kind} run ${run}: ${s(seconds)} s, by builder ${JSON.stringify(Object.fromEntries(counts))}\n`)
      }
    }

    const polls = { 1: [] as number[], 5: [] as number[] }
    for (let run = 1; run <= BATCH_RUNS; run++) {
      for (const poll of run % 2 === 1 ? [1, 5] as const : [5, 1] as const) {
        const jobs = await writeJobs(m.dir, `${lan.prefix}-only-${poll}-${run}`, ONLY_JOBS, JOB_SECONDS)
        const startedAt = performance.now()
        const result = await m.run(process.execPath, [MESH, 'build', '--only', 'b1', '--', 'nix-build', jobs, '--max-jobs', '1', '--no-out-link', '--option', 'build-hook', hook],
          { timeoutMs: 120_000, env: poll === 5 ? { NIX_CONFIG: 'build-poll-interval = 5' } : {} })
        const seconds = (performance.now() - startedAt) / 1000
        const hosts = await Promise.all(result.stdout.trim().split('\n').map(async (path) => (await readFile(m.pathOnMachine(path), 'utf8')).trim()))
        if (hosts.length !== ONLY_JOBS || hosts.some((h) => h !== 'b1')) throw new Error(`mesh build --only b1, poll ${poll}, run ${run}: built on ${hosts.join(', ')}`)
        polls[poll].push(seconds)
        process.stderr.write(`mesh build --only b1, build-poll-interval ${poll}, run ${run}: ${s(seconds)} s\n`)
      }
    }

    const totalSlots = BUILDERS * SLOTS
    const ideal = JOBS * JOB_SECONDS / totalSlots
    const onlyIdeal = ONLY_JOBS * JOB_SECONDS / SLOTS
    const listed = listings.map((l) => l.listed)
    const keyAfter = listings.map((l) => l.keyAfterListingMs)
    const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
    const lines = [
      `offload bench: ${BUILDERS} builders x --slots ${SLOTS} = ${totalSlots} slots, ${JOBS} derivations x ${JOB_SECONDS} s, ${nixVersion}, ${availableParallelism()} cores, 1-min load ${loadBefore} before, ${await loadAverage()} after`,
      '',
      row(['(a) builder agent spawn ->', 'median s', 'min s', 'max s', 'samples']),
      row(['---', '---', '---', '---', '---']),
      row(['line in master\'s Nix file', s(median(listed)), s(Math.min(...listed)), s(Math.max(...listed)), String(listed.length)]),
      row(['(ms) master key written minus listed', String(median(keyAfter)), String(Math.min(...keyAfter)), String(Math.max(...keyAfter)), String(keyAfter.length)]),
      '',
      row(['(b) 12 x 2 s batch via', 'median s', 'mean s', 'min s', 'max s', 'ideal s', 'median / ideal', 'runs']),
      row(['---', '---', '---', '---', '---', '---', '---', '---']),
      ...(['mesh', 'static', 'hook'] as const).map((kind) => row([SIDE_NAMES[kind],
        s(median(times[kind])), s(mean(times[kind])), s(Math.min(...times[kind])), s(Math.max(...times[kind])), s(ideal), s(median(times[kind]) / ideal), String(times[kind].length)])),
      row(['mesh / static', s(median(times.mesh) / median(times.static)), s(mean(times.mesh) / mean(times.static)), '', '', '', '', '']),
      row(['hook / static', s(median(times.hook) / median(times.static)), s(mean(times.hook) / mean(times.static)), '', '', '', '', '']),
      '',
      row([`(c) mesh build --only b1, ${ONLY_JOBS} x ${JOB_SECONDS} s, --max-jobs 1`, 'median s', 'mean s', 'min s', 'max s', 'ideal s', 'median / ideal', 'runs']),
      row(['---', '---', '---', '---', '---', '---', '---', '---']),
      ...([5, 1] as const).map((poll) => row([`build-poll-interval = ${poll}${poll === 1 ? ' (mesh build\'s)' : ' (Nix\'s default)'}`,
        s(median(polls[poll])), s(mean(polls[poll])), s(Math.min(...polls[poll])), s(Math.max(...polls[poll])), s(onlyIdeal), s(median(polls[poll]) / onlyIdeal), String(polls[poll].length)])),
      row(['1 s / 5 s', s(median(polls[1]) / median(polls[5])), s(mean(polls[1]) / mean(polls[5])), '', '', '', '', ''])
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    await Promise.all(builders.map(async (b) => await b.agent.stop()))
    await master.stop()
  } finally {
    await lan.close()
  }
}

await main()
