/*
 * Where builds run, simulated: Nix's static machines file, Guix's offload and planBuild, on
 * three kinds of build graph and three LANs, against a lower bound no policy can beat.
 *   npm run bench:schedule            (or: node bench/schedule.ts, with Node >= 22.18)
 * The model and its assumptions are in bench/simulator/README.md.
 */
import { graphMakers } from './simulator/graphs.ts'
import { machineSets, type MachineSet } from './simulator/machines.ts'
import { median, policies, runAll } from './simulator/compare.ts'
import { createRng } from './simulator/rng.ts'

const SEEDS = Array.from({ length: 60 }, (_, i) => i + 1)
const TARGET_BOUND = 1.15
const TARGET_VS_NIX = 1.3

const masterFastest = (set: MachineSet): boolean =>
  set.machines.every((m) => m.local || m.speed < (set.machines.find((x) => x.local)?.speed ?? 0))

const rows: string[][] = []
const failures: string[] = []
for (const makeGraph of graphMakers) {
  for (const set of machineSets) {
    const graphs = SEEDS.map((seed) => makeGraph(createRng(seed)))
    const runs = graphs.map((g, k) => runAll(g, set, SEEDS[k] as number))
    const graph = graphs[0]?.name ?? ''
    const bound = median(runs.map((r) => r.lowerBound))
    // Ratios are taken per seed, then the median: each seed has its own graph and bound.
    const ratio = (p: string): number => median(runs.map((r) => (r.makespan[p] as number) / r.lowerBound))
    const oursVsNix = median(runs.map((r) => (r.makespan.nix as number) / (r.makespan.ours as number)))
    const cells = policies.map((p) => `${median(runs.map((r) => r.makespan[p.name] as number)).toFixed(0)} (${ratio(p.name).toFixed(3)})`)
    rows.push([graph, set.name, bound.toFixed(0), ...cells, `${oursVsNix.toFixed(2)}x`])
    if (ratio('ours') > TARGET_BOUND) failures.push(`${graph} on ${set.name}: ours is ${ratio('ours').toFixed(3)}x the lower bound (target ${TARGET_BOUND})`)
    if (masterFastest(set) && oursVsNix < TARGET_VS_NIX) failures.push(`${graph} on ${set.name}: ours is only ${oursVsNix.toFixed(2)}x better than Nix (target ${TARGET_VS_NIX})`)
  }
}

const header = ['graph', 'machines', 'bound s', ...policies.map((p) => `${p.name} s (/bound)`), 'nix/ours']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
const line = (cells: string[]): string => cells.map((c, i) => i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join('  ')
console.log(`Makespan, median of ${SEEDS.length} seeds; in brackets, over the lower bound.`)
console.log(line(header))
for (const r of rows) console.log(line(r))
console.log(failures.length === 0
  ? `Targets met: ours <= ${TARGET_BOUND}x the bound everywhere, >= ${TARGET_VS_NIX}x better than Nix where the master is fastest.`
  : `Targets missed:\n  ${failures.join('\n  ')}`)
process.exitCode = failures.length === 0 ? 0 : 1
