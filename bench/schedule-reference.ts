/*
 * How far planBuild is from a schedule made knowing everything: each build's true work, the
 * whole graph, and no Nix protocol (any order, no polls). The reference is the best schedule a
 * simulated-annealing search finds (bench/simulator/reference-schedule.ts), not an optimum;
 * where it too stays far from the lower bound, that gap is not the policy's alone. It is searched
 * twice: free to put builds on any builder, and under the overload threshold that ours keeps
 * (no new build on a builder at 0.8 load or over, so none beside a giant that fills its cores).
 * Beside the lower bound it prints the placed bound, which knows that a giant runs whole on one
 * machine (`placedLowerBound`): no schedule ends sooner than either.
 *   npm run bench:schedule-reference     (or: node bench/schedule-reference.ts, with Node >= 22.18)
 */
import { defaultPlanPolicy } from '../scheduler/plan-build.ts'
import { median, policies } from './simulator/compare.ts'
import { graphMakers } from './simulator/graphs.ts'
import { lowerBound, placedLowerBound } from './simulator/lower-bound.ts'
import { machineSets } from './simulator/machines.ts'
import { searchReference } from './simulator/reference-schedule.ts'
import { createRng } from './simulator/rng.ts'
import { simulate } from './simulator/simulate.ts'

const SEEDS = Array.from({ length: 10 }, (_, i) => i + 1)
const ITERATIONS = 2000
const ours = policies.find((p) => p.name === 'ours')
if (ours === undefined) throw new Error('the simulator has no policy named ours')

const rows: string[][] = []
for (const makeGraph of graphMakers) {
  for (const set of machineSets) {
    const runs = SEEDS.map((seed) => {
      const graph = makeGraph(createRng(seed))
      return {
        graph: graph.name,
        bound: lowerBound(graph, set.machines).value,
        placed: placedLowerBound(graph, set.machines),
        reference: searchReference(graph, set.machines, createRng(seed ^ 0x5ea7c4), ITERATIONS).makespan,
        underThreshold: searchReference(graph, set.machines, createRng(seed ^ 0x5ea7c4), ITERATIONS, defaultPlanPolicy.overloadThreshold).makespan,
        ours: simulate(graph, set.machines, ours.hook(seed, graph), ours.costs).makespan
      }
    })
    for (const r of runs) {
      if (Math.min(r.reference, r.underThreshold, r.ours) < r.placed * (1 - 1e-9)) throw new Error(`${r.graph} on ${set.name}: a schedule ends before the placed bound, which cannot be`)
    }
    const ratio = (f: (r: (typeof runs)[number]) => number): string => median(runs.map(f)).toFixed(3)
    rows.push([
      runs[0]?.graph ?? '',
      set.name,
      median(runs.map((r) => r.bound)).toFixed(0),
      median(runs.map((r) => r.placed)).toFixed(0),
      `${median(runs.map((r) => r.reference)).toFixed(0)} (${ratio((r) => r.reference / r.bound)})`,
      `${median(runs.map((r) => r.underThreshold)).toFixed(0)} (${ratio((r) => r.underThreshold / r.bound)})`,
      `${median(runs.map((r) => r.ours)).toFixed(0)} (${ratio((r) => r.ours / r.bound)})`,
      ratio((r) => r.ours / r.reference),
      ratio((r) => r.ours / r.underThreshold),
      ratio((r) => r.reference / r.placed),
      ratio((r) => r.ours / r.placed)
    ])
  }
}

const header = ['graph', 'machines', 'bound s', 'placed bound s', 'reference s (/bound)', 'under 0.8 load s (/bound)', 'ours s (/bound)', 'ours/reference', 'ours/under 0.8', 'reference/placed', 'ours/placed']
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)))
const line = (cells: string[]): string => cells.map((c, i) => i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join('  ')
console.log(`Makespan, median of ${SEEDS.length} seeds; the reference searched ${ITERATIONS} plans per graph. In brackets, over the lower bound.`)
console.log(line(header))
for (const r of rows) console.log(line(r))
