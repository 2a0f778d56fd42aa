import { BuildHistory } from '../../scheduler/build-history.ts'
import { dependents, isBigParallel, type BuildGraph } from './graph.ts'
import type { Hook } from './hook.ts'
import { buildmeshHook, type BuildmeshHookInit } from './hooks/buildmesh.ts'
import { guixOffloadHook } from './hooks/guix-offload.ts'
import { nixStaticHook } from './hooks/nix-static.ts'
import { lowerBound } from './lower-bound.ts'
import type { MachineSet } from './machines.ts'
import { createRng } from './rng.ts'
import { FREE_HOOK, simulate, type HookCosts } from './simulate.ts'

export interface Policy {
  name: string
  /** A fresh hook for one run of `graph`; `seed` feeds whatever randomness the policy itself has. */
  hook: (seed: number, graph: BuildGraph) => Hook
  /** The graph as this policy's runs see it, where not as it is. */
  sees?: (graph: BuildGraph) => BuildGraph
  /** What its hook costs Nix's worker; none where not measured. */
  costs?: HookCosts
}

// `npm run bench:hook`, real Nix 2.8: Nix's own hook (a compiled program) answers in about 0.08
// ms and starts in under the bench's 10 ms resolution. `mesh build-hook` (a Node process asking
// the agent over one kept connection) answers in about 0.5 ms when it asks the agent; on 150
// independent derivations, where it answers 96% itself as the agent answered ahead, all its
// answers together average 0.17 ms, the agent's work ahead and the store queries it runs
// meanwhile included: that is what a served answer is charged here. Weighing one waiter against
// the queue to answer ahead takes about 0.06 ms with 150 waiting. A new hook takes 0.05 s to
// start and give a first answer; an answer Nix waits on a store query for costs the query's 20
// ms more (`nix-store --query`).
const NIX_HOOK: HookCosts = { answerSeconds: 0.00008, newHookSeconds: 0 }
const MESH_HOOK: HookCosts = { answerSeconds: 0.0005, newHookSeconds: 0.05, storeQuerySeconds: 0.02, servedSeconds: 0.00017, planAheadSeconds: 0.00006 }

export const policies: Policy[] = [
  { name: 'nix', hook: () => nixStaticHook(), costs: NIX_HOOK },
  // Its own stream: the graph of the same seed drew from the first.
  { name: 'guix', hook: (seed) => guixOffloadHook(createRng(seed ^ 0x5eed)) },
  { name: 'ours', hook: (_, graph) => ours(graph), costs: MESH_HOOK },
  { name: 'ours-nohist', hook: () => buildmeshHook({ history: false }), costs: MESH_HOOK },
  // How far ours would get if the history were exact: what is left is the policy's, not the guesses'.
  { name: 'ours-exact', hook: (_, graph) => ours(graph), costs: MESH_HOOK, sees: (graph) => ({ ...graph, derivations: graph.derivations.map((d) => ({ ...d, pastWork: d.work })) }) }
]

function ours (graph: BuildGraph): Hook {
  return buildmeshHook({ history: true, ...typicals(graph), dependents: storeView(graph) })
}

/** What the agent's history, holding every past build of the graph, says a typical build takes. */
function typicals (graph: BuildGraph): Pick<BuildmeshHookInit, 'typicalWork' | 'typicalBigParallelWork'> {
  const history = new BuildHistory()
  for (const d of graph.derivations) if (d.pastWork !== undefined) history.record(d.name, d.pastWork, isBigParallel(d))
  return { typicalWork: history.typical(), typicalBigParallelWork: history.typicalBigParallel() }
}

/** The graph as the agent reads it from the store, by name, with the history's work for each. */
function storeView (graph: BuildGraph): NonNullable<BuildmeshHookInit['dependents']> {
  const names = graph.derivations.map((d) => d.name)
  return {
    users: new Map(dependents(graph).map((ids, id) => [names[id] as string, ids.map((u) => names[u] as string)])),
    requiredFeatures: new Map(graph.derivations.map((d) => [d.name, d.requiredFeatures])),
    pastWork: new Map(graph.derivations.map((d) => [d.name, d.pastWork]))
  }
}

export interface Run {
  lowerBound: number
  makespan: Record<string, number>
}

export function runAll (graph: BuildGraph, set: MachineSet, seed: number): Run {
  const makespan: Record<string, number> = {}
  for (const p of policies) {
    const seen = p.sees?.(graph) ?? graph
    makespan[p.name] = simulate(seen, set.machines, p.hook(seed, seen), p.costs ?? FREE_HOOK).makespan
  }
  return { lowerBound: lowerBound(graph, set.machines).value, makespan }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}
