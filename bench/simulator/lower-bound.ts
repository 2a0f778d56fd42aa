import { isBigParallel, topologicalOrder, type BuildGraph, type Derivation } from './graph.ts'
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
  return boundPlaced(graph, machines, new Map(), Infinity)
}

/**
 * A tighter bound for a graph with `big-parallel` builds: `lowerBound` lets a giant's work flow to
 * every machine at once, while a build runs whole on one machine. Every schedule places each
 * giant somewhere, so the least, over all placements, of the bound that knows the placement is a
 * bound too. Knowing it, a giant takes its time alone on its own machine in the chains, and in a
 * window the giants placed on m take their work out of m's capacity, leaving the ordinary builds
 * min(L x ordinary rate, L x any rate - giants' work) there. Placements are searched branch and
 * bound: a giant not yet placed counts at its fastest and may use any machine's spare capacity,
 * which no placement of it beats, so a branch whose bound reaches the best found is cut.
 */
export function placedLowerBound (graph: BuildGraph, machines: Machine[]): number {
  const giants = graph.derivations.filter(isBigParallel).sort((x, y) => y.work - x.work)
  const capacity = capacities(machines)
  const placement = new Map<number, number>()
  let best = Infinity
  const search = (k: number): void => {
    const bound = boundPlaced(graph, machines, placement, best).value
    if (bound >= best) return
    const giant = giants[k]
    if (giant === undefined) {
      best = bound
      return
    }
    const where = machines.flatMap((m, i) => matches(m, giant.system, giant.requiredFeatures) ? [i] : [])
    for (const i of where.sort((x, y) => (capacity[y] as Capacity).all - (capacity[x] as Capacity).all)) {
      placement.set(giant.id, i)
      search(k + 1)
    }
    placement.delete(giant.id)
  }
  search(0)
  return best
}

/** Units of work per second a machine can give ordinary builds, and any builds. */
interface Capacity { ordinary: number, all: number }

const capacities = (machines: Machine[]): Capacity[] => machines.map((m) => ({
  ordinary: m.speed * Math.min(m.cores, m.slots),
  all: m.speed * Math.min(m.cores, m.slots * (m.supportedFeatures.includes('big-parallel') ? Math.min(m.cores, BIG_PARALLEL_CORES) : 1))
}))

/** The work of a window: ordinary builds, giants not placed (any machine), and giants placed, by machine. */
interface WindowWork { ordinary: number, unplaced: number, placed: number[] }

/** The shortest window that can hold `work`: the least L where every machine's part fits its capacity. */
function windowSeconds (work: WindowWork, capacity: Capacity[]): number {
  const total = (f: (c: Capacity) => number): number => capacity.reduce((sum, c) => sum + f(c), 0)
  const placed = work.placed.reduce((sum, g) => sum + g, 0)
  let start = Math.max((work.ordinary + work.unplaced + placed) / total((c) => c.all), ...capacity.map((c, m) => (work.placed[m] as number) / c.all))
  // Room for ordinary builds on m is min(L x ordinary, L x all - placed): the second until `turn`.
  const turn = capacity.map((c, m) => c.all > c.ordinary ? (work.placed[m] as number) / (c.all - c.ordinary) : Infinity)
  for (const end of [...turn.filter((t) => t > start && t < Infinity).sort((x, y) => x - y), Infinity]) {
    let slope = 0
    let taken = 0
    for (const [m, c] of capacity.entries()) {
      if ((turn[m] as number) <= start) slope += c.ordinary
      else {
        slope += c.all
        taken += work.placed[m] as number
      }
    }
    const least = (work.ordinary + taken) / slope
    if (least <= end) return Math.max(start, least)
    start = end
  }
  return start
}

/** `lowerBound` for schedules that put each giant in `placement` (derivation id to machine index) where it says; stops once it reaches `cutoff`. */
function boundPlaced (graph: BuildGraph, machines: Machine[], placement: Map<number, number>, cutoff: number): LowerBound {
  const ds = graph.derivations
  const seconds = ds.map((d) => {
    const placed = machines[placement.get(d.id) ?? -1]
    if (placed !== undefined) return aloneSeconds(d, placed)
    const times = machines.filter((m) => matches(m, d.system, d.requiredFeatures)).map((m) => aloneSeconds(d, m))
    if (times.length === 0) throw new Error(`${d.name}: no machine can build it`)
    return Math.min(...times)
  })
  const order = topologicalOrder(graph)
  const head = ds.map(() => 0)
  for (const id of order) {
    const d = ds[id]
    if (d !== undefined) head[id] = Math.max(0, ...d.inputs.map((i) => (head[i] as number) + (seconds[i] as number)))
  }
  const tail = ds.map(() => 0)
  for (const id of [...order].reverse()) {
    for (const i of ds[id]?.inputs ?? []) tail[i] = Math.max(tail[i] as number, (seconds[id] as number) + (tail[id] as number))
  }
  const criticalPath = Math.max(...ds.map((d) => (head[d.id] as number) + (seconds[d.id] as number) + (tail[d.id] as number)))
  if (criticalPath >= cutoff) return { criticalPath, work: 0, value: criticalPath }

  const capacity = capacities(machines)
  const anyRate = capacity.reduce((sum, c) => sum + c.all, 0)
  const ordinaryRate = capacity.reduce((sum, c) => sum + c.ordinary, 0)
  const heads = [...new Set(head)].sort((x, y) => y - x)
  const byTail = [...ds].sort((x, y) => (tail[y.id] as number) - (tail[x.id] as number))
  let work = 0
  for (const a of heads) {
    const inside: WindowWork = { ordinary: 0, unplaced: 0, placed: machines.map(() => 0) }
    let all = 0
    let slowestPlaced = 0
    for (const [k, d] of byTail.entries()) {
      if ((head[d.id] as number) >= a) {
        addTo(inside, d, placement.get(d.id))
        all += d.work
        const m = placement.get(d.id)
        if (m !== undefined) slowestPlaced = Math.max(slowestPlaced, (inside.placed[m] as number) / (capacity[m] as Capacity).all)
      }
      const b = tail[d.id] as number
      const nextTail = byTail[k + 1] === undefined ? -1 : tail[(byTail[k + 1] as Derivation).id] as number
      // Once every derivation with this tail is in; an empty set bounds nothing. The window takes
      // at most its placed giants' time and then the rest at full rate: past the best, it is worked out.
      const atMost = slowestPlaced + inside.ordinary / ordinaryRate + inside.unplaced / anyRate
      if (nextTail < b && all > 0 && a + b + atMost > work) work = Math.max(work, a + b + windowSeconds(inside, capacity))
      if (work >= cutoff) return { criticalPath, work, value: work }
    }
  }
  return { criticalPath, work, value: Math.max(criticalPath, work) }
}

function addTo (inside: WindowWork, d: Derivation, machine: number | undefined): void {
  if (machine !== undefined) inside.placed[machine] = (inside.placed[machine] as number) + d.work
  else if (isBigParallel(d)) inside.unplaced += d.work
  else inside.ordinary += d.work
}
