import { isBigParallel, topologicalOrder, type BuildGraph } from './graph.ts'
import { matches, type Machine } from './machines.ts'
import { aloneSeconds, BIG_PARALLEL_CORES } from './pool.ts'

export interface LowerBound {
  /** The longest chain, each derivation alone on the machine fastest for it. */
  criticalPath: number
  /** The best of the work bounds below. */
  work: number
  value: number
}

/**
 * No schedule of `graph` on `machines` under the simulator's model ends sooner than this, whatever
 * the policy; copying to remotes and hook delays only add to it.
 *
 * Critical path: a derivation starts after its inputs end and takes at least its time alone on
 * its fastest machine.
 *
 * Work: machine m computes at most speed x min(cores, running threads) units per second, and a
 * build wants 1 thread (`big-parallel`: min(cores, 8)). So the builds on m finish at most
 * speed x min(cores, slots) units of ordinary work per second, and speed x min(cores, slots x
 * threads) of any work; summed over machines these are X and Y. A set S of derivations that all
 * run inside a window of length L needs L >= max(ordinary(S) / X, all(S) / Y). Every derivation
 * with head >= a (the longest chain before it) and tail >= b (the longest after it) runs inside
 * [a, T - b], so T >= a + b + that, for every a and b. With a = b = 0 this is total work over
 * total capacity; larger a and b catch work that must wait for a chain, or that a chain waits for.
 */
export function lowerBound (graph: BuildGraph, machines: Machine[]): LowerBound {
  const ds = graph.derivations
  const fastest = ds.map((d) => {
    const times = machines.filter((m) => matches(m, d.system, d.requiredFeatures)).map((m) => aloneSeconds(d, m))
    if (times.length === 0) throw new Error(`${d.name}: no machine can build it`)
    return Math.min(...times)
  })
  const order = topologicalOrder(graph)
  const head = ds.map(() => 0)
  for (const id of order) {
    const d = ds[id]
    if (d !== undefined) head[id] = Math.max(0, ...d.inputs.map((i) => (head[i] as number) + (fastest[i] as number)))
  }
  const tail = ds.map(() => 0)
  for (const id of [...order].reverse()) {
    for (const i of ds[id]?.inputs ?? []) tail[i] = Math.max(tail[i] as number, (fastest[id] as number) + (tail[id] as number))
  }
  const criticalPath = Math.max(...ds.map((d) => (head[d.id] as number) + (fastest[d.id] as number) + (tail[d.id] as number)))

  const ordinaryRate = machines.reduce((sum, m) => sum + m.speed * Math.min(m.cores, m.slots), 0)
  const anyRate = machines.reduce((sum, m) => {
    const threads = m.supportedFeatures.includes('big-parallel') ? Math.min(m.cores, BIG_PARALLEL_CORES) : 1
    return sum + m.speed * Math.min(m.cores, m.slots * threads)
  }, 0)
  const heads = [...new Set(head)].sort((x, y) => y - x)
  const byTail = [...ds].sort((x, y) => (tail[y.id] as number) - (tail[x.id] as number))
  let work = 0
  for (const a of heads) {
    let ordinary = 0
    let all = 0
    for (const [k, d] of byTail.entries()) {
      if ((head[d.id] as number) >= a) {
        if (!isBigParallel(d)) ordinary += d.work
        all += d.work
      }
      const b = tail[d.id] as number
      const nextTail = byTail[k + 1] === undefined ? -1 : tail[(byTail[k + 1] as typeof d).id] as number
      // Once every derivation with this tail is in; an empty set bounds nothing.
      if (nextTail < b && all > 0) work = Math.max(work, a + b + Math.max(ordinary / ordinaryRate, all / anyRate))
    }
  }
  return { criticalPath, work, value: Math.max(criticalPath, work) }
}
