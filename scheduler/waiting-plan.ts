/** One build slot, free now or expected to free `freeAt` seconds from now. */
export interface PlanSlot {
  open: boolean
  freeAt: number
}

export interface PlanJob {
  /** Seconds from its start to its end in each slot, in the order of the slots; Infinity where it cannot run. */
  seconds: number[]
  /** Seconds from now before it can start anywhere. */
  earliest: number
  /** How much its own end counts: more for a long build, the likelier to be awaited. */
  weight: number
  /** Seconds the chain of builds waiting for it takes once it ends, if known. */
  chainAfter?: number
}

export interface Plan {
  /** When the last of the jobs would end. */
  end: number
  /** The sum of every job's end times its weight. */
  weightedEnds: number
  /** For each job, in the order given, the index of its slot; -1 where none fits. */
  slotOf: number[]
  /** For each job, in the order given, when it would start. */
  startOf: number[]
}

/**
 * Hands a set of builds out the classic way: longest path first (a build's own time in the
 * fastest slot it can use, and the chain after it), each to the slot where it would end soonest.
 * A rough plan, not a schedule: planBuild weighs its choices with it, and tells Nix only about
 * the build it was asked about.
 */
export function listPlan (jobs: PlanJob[], slots: PlanSlot[]): Plan {
  const freeAt = slots.map((s) => s.freeAt)
  const slotOf = jobs.map(() => -1)
  const startOf = jobs.map(() => Infinity)
  let end = 0
  let weightedEnds = 0
  // A short build that a long chain waits for goes before a longer one that nothing waits for.
  const longestFirst = jobs.map((job, i) => ({ job, i, length: Math.min(...job.seconds) + (job.chainAfter ?? 0) })).sort((a, b) => b.length - a.length || a.i - b.i)
  for (const { job, i } of longestFirst) {
    let bestEnd = Infinity
    for (let k = 0; k < freeAt.length; k++) {
      const e = Math.max(freeAt[k] as number, job.earliest) + (job.seconds[k] as number)
      if (e < bestEnd) {
        slotOf[i] = k
        bestEnd = e
      }
    }
    if (slotOf[i] !== -1) {
      freeAt[slotOf[i] as number] = bestEnd
      startOf[i] = bestEnd - (job.seconds[slotOf[i] as number] as number)
    }
    end = Math.max(end, bestEnd)
    weightedEnds += job.weight * bestEnd
  }
  return { end, weightedEnds, slotOf, startOf }
}
