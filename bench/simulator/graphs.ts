import { BIG_PARALLEL, type BuildGraph, type Derivation } from './graph.ts'
import { SYSTEM } from './machines.ts'
import type { Rng } from './rng.ts'

/** Share of derivations whose name the master has built before, and how far off that past build is. */
const HISTORY = { known: 0.85, error: 0.3 }

const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz'

class GraphBuilder {
  readonly derivations: Derivation[] = []
  private readonly rng: Rng

  constructor (rng: Rng) {
    this.rng = rng
  }

  add (work: number, inputs: number[], requiredFeatures: string[] = []): number {
    const id = this.derivations.length
    const name = Array.from({ length: 10 }, () => ALPHABET[this.rng.int(0, ALPHABET.length - 1)]).join('')
    const pastWork = this.rng.next() < HISTORY.known ? work * this.rng.noise(HISTORY.error) : undefined
    this.derivations.push({ id, name, system: SYSTEM, requiredFeatures, work, pastWork, inputs: [...new Set(inputs)] })
    return id
  }
}

/**
 * A toolchain bootstrap: a chain of 20 stages, each built with the one before. Six stages each
 * get 30-60 packages built with them, which a stage 2-4 steps later needs (perl, python, the
 * libraries the next compiler links); the last stage's packages are gathered by a profile.
 */
export function bootstrapGraph (rng: Rng): BuildGraph {
  const g = new GraphBuilder(rng)
  const STAGES = 20
  const stages: number[] = []
  const joins = new Map<number, number[]>()
  const fanOuts = new Set(rng.shuffle(Array.from({ length: 15 }, (_, i) => i + 1)).slice(0, 5))
  fanOuts.add(STAGES - 1)
  for (let s = 0; s < STAGES; s++) {
    const previous = s === 0 ? [] : [stages[s - 1] as number]
    const stage = g.add(rng.uniform(30, 240), [...previous, ...(joins.get(s) ?? [])])
    stages.push(stage)
    if (!fanOuts.has(s)) continue
    const leaves = Array.from({ length: rng.int(30, 60) }, () => g.add(rng.uniform(3, 40), [stage]))
    const join = s + rng.int(2, 4)
    if (join < STAGES) joins.set(join, [...(joins.get(join) ?? []), ...leaves])
    else g.add(1, [stage, ...leaves])
  }
  return { name: 'bootstrap', derivations: g.derivations }
}

/** 200 small builds that need nothing from each other: a CI run of independent packages. */
export function independentGraph (rng: Rng): BuildGraph {
  const g = new GraphBuilder(rng)
  for (let i = 0; i < 200; i++) g.add(rng.uniform(1, 10), [])
  return { name: 'independent', derivations: g.derivations }
}

/**
 * A slice of a package set: ten layers of libraries and applications, each depending on a few
 * from the layer below and one further down, with eight `big-parallel` giants (a compiler, a
 * browser engine) that much of the layer above waits for.
 */
export function mixedGraph (rng: Rng): BuildGraph {
  const g = new GraphBuilder(rng)
  const layers: number[][] = []
  const giantLayers = new Set(rng.shuffle(Array.from({ length: 9 }, (_, i) => i)).slice(0, 8))
  const pick = (from: number[]): number[] => from.length === 0 ? [] : [from[rng.int(0, from.length - 1)] as number]
  let giant: number | undefined
  for (let l = 0; l < 10; l++) {
    const below = layers[l - 1] ?? []
    const deeper = layers.slice(0, Math.max(0, l - 1)).flat()
    const layer: number[] = []
    for (let i = rng.int(8, 30); i > 0; i--) {
      const inputs = [...Array.from({ length: rng.int(1, 3) }, () => pick(below)).flat(), ...pick(deeper)]
      // Much of the layer above a giant links against it.
      if (giant !== undefined && rng.next() < 0.5) inputs.push(giant)
      layer.push(g.add(rng.uniform(2, 40), inputs))
    }
    giant = giantLayers.has(l) ? g.add(rng.uniform(400, 1500), pick(below), [BIG_PARALLEL]) : undefined
    if (giant !== undefined) layer.push(giant)
    layers.push(layer)
  }
  return { name: 'mixed', derivations: g.derivations }
}

export const graphMakers: Array<(rng: Rng) => BuildGraph> = [bootstrapGraph, independentGraph, mixedGraph]
