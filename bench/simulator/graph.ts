/** A build graph as the simulator replays it: what Nix would be asked to realise. */

export interface Derivation {
  id: number
  /**
   * Nix runs a batch of woken goals in order of derivation name. Real names are unrelated to a
   * derivation's place in the graph, so generated names are random.
   */
  name: string
  system: string
  requiredFeatures: string[]
  /** Seconds on one core of a speed-1 machine. The truth: no hook sees it. */
  work: number
  /**
   * What the master's history says a past build of the same name took, normalised like `work`,
   * or undefined for a name it has never built. Only our hook reads it.
   */
  pastWork: number | undefined
  inputs: number[]
}

export interface BuildGraph {
  name: string
  derivations: Derivation[]
}

export const BIG_PARALLEL = 'big-parallel'

export const isBigParallel = (d: { requiredFeatures: string[] }): boolean => d.requiredFeatures.includes(BIG_PARALLEL)

/** Every derivation that lists each one as an input, indexed by id. */
export function dependents (graph: BuildGraph): number[][] {
  const out: number[][] = graph.derivations.map(() => [])
  for (const d of graph.derivations) for (const i of d.inputs) out[i]?.push(d.id)
  return out
}

/**
 * Ids in an order where inputs come first. Generators only add inputs with smaller ids, but the
 * lower bound and the tests should not depend on that.
 */
export function topologicalOrder (graph: BuildGraph): number[] {
  const pending = graph.derivations.map((d) => d.inputs.length)
  const users = dependents(graph)
  const order = graph.derivations.filter((d) => d.inputs.length === 0).map((d) => d.id)
  for (let k = 0; k < order.length; k++) {
    for (const u of users[order[k] as number] ?? []) {
      pending[u] = (pending[u] as number) - 1
      if (pending[u] === 0) order.push(u)
    }
  }
  if (order.length !== graph.derivations.length) throw new Error(`${graph.name}: the graph has a cycle`)
  return order
}
