/**
 * Where one build should run, decided on live data when Nix asks. Pure: the agent feeds it the
 * peer table and its own reservations; the simulator in bench/ feeds it simulated machines.
 */

import { listPlan, type PlanJob, type PlanSlot } from './waiting-plan.ts'

export interface BuildRequest {
  system: string
  requiredFeatures: string[]
  /** Nix has a free local slot and would build it here if we declined. */
  amWilling: boolean
  /**
   * Work this build took before: seconds on one core of a speed-1 machine, from past builds of
   * the same derivation name. Undefined without history.
   */
  expectedWork?: number
  /**
   * The work of a typical build in the history (its median), assumed for a build with no history
   * of its own. Undefined while the history is empty.
   */
  typicalWork?: number
  /**
   * The same over the history's `big-parallel` builds, assumed for such a build with no history
   * of its own. Undefined while the history holds none: then the policy's `bigParallelWork`.
   */
  typicalBigParallelWork?: number
  /** Other builds Nix has asked about and was told to wait for. */
  queue?: QueuedBuild[]
  /**
   * Seconds the longest chain of builds waiting for this one takes once it ends, each on the
   * machine fastest for it (`chainAfter`). Undefined when the store could not say.
   */
  chainAfter?: number
  /**
   * Seconds until the builds running now, and the chain waiting for each, should all end: the
   * least the run has left. Undefined while no running build has a chain after it.
   */
  runningChainsEndIn?: number
  /**
   * Builds this run of Nix sent to builders that are still running. With no local slot free, a
   * decline has Nix wait for any of its builds to end, a remote one too, and ask again: sooner
   * than a postpone's poll, and safe only while one runs (Nix at --max-jobs 0 with none running
   * and nothing postponed stops with "unable to start any build").
   */
  remoteRunning?: number
}

export interface QueuedBuild extends Pick<BuildRequest, 'system' | 'requiredFeatures' | 'expectedWork' | 'chainAfter'> {
  /** Seconds until Nix asks about it again: 0 if later in this same round of questions. */
  askedAgainIn?: number
}

/** A machine that could take the build: a remote builder, or the master itself. */
export interface Candidate {
  name: string
  local: boolean
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  slots: number
  /** Builds running there now, including the ones we have sent and it has not reported yet. */
  slotsInUse: number
  cores: number
  speed: number
  /** 0..1 */
  load: number
  /**
   * Seconds until each build running there is expected to end (`runningWork`); builds with no
   * estimate are left out and count as ending too late to wait for.
   */
  endsIn?: number[]
}

export interface PlanPolicy {
  /** A builder whose load is at or over this takes nothing new (Guix's default is 0.8). */
  overloadThreshold: number
  /** Cores a `big-parallel` build keeps busy at most: `make -j` stops scaling somewhere. */
  bigParallelCores?: number
  /**
   * The work to assume for a `big-parallel` build with no history, while the history holds no
   * such build at all: big, as the feature says.
   */
  bigParallelWork?: number
  /** Seconds a remote build spends copying inputs there and outputs back. */
  transferSeconds?: number
  /** How long Nix sleeps after a postpone before it asks again: its `pollInterval`. */
  pollSeconds?: number
}

export const defaultPlanPolicy: Required<PlanPolicy> = {
  overloadThreshold: 0.8,
  bigParallelCores: 8,
  bigParallelWork: 3600,
  transferSeconds: 1,
  pollSeconds: 5
}

export type BuildDecision =
  /**
   * Build on the master: the hook declines. With a free local slot Nix builds it now; without
   * one it waits for any of its builds to end and asks again, sooner than after a postpone.
   */
  | { kind: 'local' }
  | { kind: 'remote', name: string }
  /** Not now (every machine that could build it is busy, or soon better): ask again later. */
  | { kind: 'postpone' }
  /** No machine can build it at all: Nix reports the missing system or feature. */
  | { kind: 'impossible' }

export type Needs = Pick<BuildRequest, 'system' | 'requiredFeatures'>

export function canBuild (c: Pick<Candidate, 'systems' | 'supportedFeatures' | 'mandatoryFeatures'>, request: Needs): boolean {
  if (!c.systems.includes(request.system)) return false
  if (request.requiredFeatures.some((f) => !c.supportedFeatures.includes(f) && !c.mandatoryFeatures.includes(f))) return false
  return c.mandatoryFeatures.every((f) => request.requiredFeatures.includes(f))
}

/** A build that keeps busy every core it is given (`make -j`): a compiler, a browser engine. */
export const isBigParallel = (request: Pick<BuildRequest, 'requiredFeatures'>): boolean => request.requiredFeatures.includes('big-parallel')

/** Cores a build keeps busy on a machine with `cores`: all it can use (`make -j`) if `big-parallel`, else one. */
export const threadsOf = (cores: number, bigParallel: boolean, policy: PlanPolicy = defaultPlanPolicy): number =>
  bigParallel ? Math.min(cores, policy.bigParallelCores ?? defaultPlanPolicy.bigParallelCores) : 1

/**
 * Units of work per second a new build would get there: the machine's speed times the cores it
 * can use, shared with what already runs (the busier of its load and its slots in use).
 */
export function expectedRate (c: Candidate, request?: Pick<BuildRequest, 'requiredFeatures'>, policy: PlanPolicy = defaultPlanPolicy): number {
  const threads = threadsOf(c.cores, request !== undefined && isBigParallel(request), policy)
  const busy = Math.max(c.load * c.cores, c.slotsInUse)
  return c.speed * threads * Math.min(1, c.cores / (busy + threads))
}

/**
 * Where the build should go.
 *
 * It plans the build and the builds Nix is waiting on the classic way: longest path first (a
 * build's own time and the chain waiting for it), each on the slot where it would end soonest,
 * whether that slot is free now or about to free. A build with no history of its own counts as a
 * typical one of its kind (`assumedWork`). The build starts now if the plan puts it on a
 * free slot, and waits otherwise: so a long build waits for the fast master rather than crawl on
 * a slow builder, and a short one leaves the master's free slot to a longer one, unless a longer
 * chain waits for it. Waiting with a free local slot means a postpone, which Nix only retries at
 * its next poll: then it waits only if that still gets the planned builds done sooner, and never
 * when it would be done within half a poll on the free slot. Each end
 * is weighted by the square of its work: a long build is the likelier to be awaited, and with
 * weights that only grow as the work does, the sum could not tell a short build on a contended
 * fast slot from the long one it holds up. With no history at all: the fastest machine with a
 * free slot (for `big-parallel`, the cores it would use count), the master on a tie; all busy:
 * wait.
 *
 * Last, a build about to start now goes to a slower free machine instead when nothing the run
 * waits for is delayed by it (`offTheChain`).
 */
export function planBuild (request: BuildRequest, candidates: Candidate[], policy: PlanPolicy = defaultPlanPolicy): BuildDecision {
  const decision = placeBuild(request, candidates, policy)
  const chosen = decision.kind === 'remote'
    ? candidates.find((c) => c.name === decision.name)
    : decision.kind === 'local' && request.amWilling ? candidates.find((c) => c.local) : undefined
  return chosen === undefined ? decision : offTheChain(request, candidates, chosen, policy) ?? decision
}

/**
 * A build with slack, that the plan would start now on `chosen`: the free machine slower than
 * `chosen` for it where it would end soonest, if there it and the chain waiting for it still end
 * before the running builds' chains do. Built there it delays nothing the run waits for, and
 * leaves the faster machine's cores to the builds that do: the fastest machine being first for
 * every build it could take is what kept the others idle while giants waited for its cores. A
 * machine as fast gains nothing by it and could lose a slot a chain needs later.
 */
function offTheChain (request: BuildRequest, candidates: Candidate[], chosen: Candidate, policy: PlanPolicy): BuildDecision | undefined {
  const { chainAfter, runningChainsEndIn } = request
  const p = { ...defaultPlanPolicy, ...policy }
  const work = assumedWork(request, request, p)
  if (chainAfter === undefined || runningChainsEndIn === undefined || work === undefined) return undefined
  const chosenRate = expectedRate(chosen, request, p)
  const ends = candidates
    .filter((c) => c !== chosen && canBuild(c, request) && freeNow(c, request, p))
    .map((c) => ({ c, rate: expectedRate(c, request, p) }))
    .filter(({ rate }) => rate < chosenRate)
    .map(({ c, rate }) => ({ c, end: (c.local ? 0 : p.transferSeconds) + work / rate }))
    .filter(({ end }) => end + chainAfter <= runningChainsEndIn)
    .sort((a, b) => a.end - b.end)
  return ends[0] === undefined ? undefined : place(ends[0].c)
}

/**
 * Whether any machine that can build it has a slot for it now. Without one, planBuild says to
 * wait, whatever the build's work and chain.
 */
export function canStartNow (request: BuildRequest, candidates: Candidate[], policy: PlanPolicy = defaultPlanPolicy): boolean {
  const p = { ...defaultPlanPolicy, ...policy }
  return candidates.some((c) => canBuild(c, request) && freeNow(c, request, p))
}

/** The master when Nix has a local slot; a builder with a free slot, not overloaded. */
const freeNow = (c: Candidate, request: Pick<BuildRequest, 'amWilling'>, p: Required<PlanPolicy>): boolean =>
  c.local ? request.amWilling : c.slotsInUse < c.slots && c.load < p.overloadThreshold

type Typicals = Pick<BuildRequest, 'typicalWork' | 'typicalBigParallelWork'>

/**
 * The work to plan a build with: its own past work; without, a typical build's of its kind
 * (`big-parallel` or not); without that, for `big-parallel` the policy's. Undefined when none
 * of these is known.
 */
export function assumedWork (job: Pick<BuildRequest, 'requiredFeatures' | 'expectedWork'>, typicals: Typicals, policy: PlanPolicy = defaultPlanPolicy): number | undefined {
  if (job.expectedWork !== undefined) return job.expectedWork
  return isBigParallel(job) ? typicals.typicalBigParallelWork ?? policy.bigParallelWork ?? defaultPlanPolicy.bigParallelWork : typicals.typicalWork
}

const place = (c: Candidate): BuildDecision => c.local ? { kind: 'local' } : { kind: 'remote', name: c.name }

/**
 * The work from which to expect a build's end once it runs: its own past work, or for a
 * `big-parallel` one with none, `assumedWork`'s. A giant with no end estimate would make its
 * machine look taken for good and send the next giant to a builder four times slower; an
 * ordinary build with none is short, and taking it for a typical one made more builds wait for
 * slots that a wrong guess said were about to free.
 */
export function runningWork (job: Pick<BuildRequest, 'requiredFeatures' | 'expectedWork'>, typicals: Typicals, policy: PlanPolicy = defaultPlanPolicy): number | undefined {
  return isBigParallel(job) ? assumedWork(job, typicals, policy) : job.expectedWork
}

/**
 * Seconds a build takes at the least: alone on the machine fastest for it, with the work
 * `assumedWork` gives it. 0 when that is not known.
 */
export function fastestSeconds (job: Pick<BuildRequest, 'system' | 'requiredFeatures' | 'expectedWork' | 'typicalWork' | 'typicalBigParallelWork'>, candidates: Candidate[], policy: PlanPolicy = defaultPlanPolicy): number {
  const p = { ...defaultPlanPolicy, ...policy }
  const work = assumedWork(job, job, p) ?? 0
  const rates = candidates.filter((c) => canBuild(c, job)).map((c) => expectedRate({ ...c, slotsInUse: 0, load: 0 }, job, p))
  return rates.length === 0 ? 0 : work / Math.max(...rates)
}

function placeBuild (request: BuildRequest, candidates: Candidate[], policy: PlanPolicy): BuildDecision {
  const p = { ...defaultPlanPolicy, ...policy }
  const fits = (c: Candidate): boolean => canBuild(c, request)
  if (!candidates.some(fits)) return { kind: 'impossible' }
  const free = (c: Candidate): boolean => freeNow(c, request, p)
  // Declining with no local slot makes Nix wait for one of its own builds to end and ask again;
  // a postpone sleeps until its next poll. With nothing of the run's running, there is nothing to wait for.
  const canWaitHere = !request.amWilling && ((request.remoteRunning ?? 0) > 0 || candidates.some((c) => fits(c) && c.local && c.slotsInUse > 0))
  const wait: BuildDecision = canWaitHere ? { kind: 'local' } : { kind: 'postpone' }
  const workOf = (job: QueuedBuild): number | undefined => assumedWork(job, request, p)

  const work = workOf(request)
  if (work === undefined) {
    const ready = candidates.filter((c) => fits(c) && free(c)).sort(preferred((c) => -expectedRate(c, request, p)))
    return ready[0] === undefined ? wait : place(ready[0])
  }
  const { owner, slots, secondsIn } = slotTable(candidates, free, p)
  const queued: PlanJob[] = (request.queue ?? []).flatMap((job) => {
    const w = workOf(job)
    return w === undefined ? [] : [{ seconds: secondsIn(job, w), earliest: job.askedAgainIn ?? 0, weight: w * w, chainAfter: job.chainAfter }]
  })
  const mine = secondsIn(request, work)
  const plan = listPlan([{ seconds: mine, earliest: 0, weight: work * work, chainAfter: request.chainAfter }, ...queued], slots)
  const planned = plan.slotOf[0] as number
  // Only a planned start of 0 is now: planned on a free slot behind a longer waiting build, it waits.
  if (slots[planned]?.open === true && plan.startOf[0] === 0) return place(owner[planned] as Candidate)
  // Slots are in order of preference, so the first free one with the least time is the best.
  const now = slots.reduce((best, s, k) => s.open && (mine[k] as number) < (mine[best] ?? Infinity) ? k : best, -1)
  if (canWaitHere || now === -1) return wait
  // Told to wait now, it sleeps until Nix's next poll. Done within half of that on the free slot,
  // it gains nothing by sleeping; and builds that each yield a free slot to longer ones Nix is
  // about to ask about leave it idle when those are told to wait in turn.
  if ((mine[now] as number) <= p.pollSeconds / 2) return place(owner[now] as Candidate)
  const ifNow = listPlan(queued, slots.map((s, k) => k === now ? { open: false, freeAt: mine[k] as number } : s)).weightedEnds + work * work * (mine[now] as number)
  const ifWait = listPlan([{ seconds: mine, earliest: p.pollSeconds, weight: work * work, chainAfter: request.chainAfter }, ...queued], slots).weightedEnds
  return ifWait < ifNow ? wait : place(owner[now] as Candidate)
}

/**
 * Every slot of every candidate, free now or when the build in it should end, in order of
 * preference (the master: no copying; then more cores); and how long a job would take in each.
 */
function slotTable (candidates: Candidate[], free: (c: Candidate) => boolean, p: Required<PlanPolicy>): {
  owner: Candidate[]
  slots: PlanSlot[]
  secondsIn: (job: Needs, work: number) => number[]
} {
  const owner: Candidate[] = []
  const slots: PlanSlot[] = []
  for (const c of [...candidates].sort(preferred(() => 0))) {
    const open = !free(c) ? 0 : c.local ? Math.max(1, c.slots - c.slotsInUse) : c.slots - c.slotsInUse
    const ends = [...(c.endsIn ?? [])].sort((a, b) => a - b)
    for (let k = 0; k < Math.max(c.slots, open); k++) {
      owner.push(c)
      slots.push(k < open ? { open: true, freeAt: 0 } : { open: false, freeAt: Math.max(0, ends[k - open] ?? Infinity) })
    }
  }
  const transfer = owner.map((c) => c.local ? 0 : p.transferSeconds)
  // Per kind of job (system and features), its rate in each slot; 0 where it cannot run.
  const rates = new Map<string, number[]>()
  const secondsIn = (job: Needs, work: number): number[] => {
    const kind = `${job.system} ${job.requiredFeatures.join(',')}`
    let r = rates.get(kind)
    if (r === undefined) {
      const perCandidate = new Map(candidates.map((c) => [c, canBuild(c, job) ? expectedRate(c, job, p) : 0]))
      r = owner.map((c) => perCandidate.get(c) as number)
      rates.set(kind, r)
    }
    const seconds = new Array<number>(r.length)
    for (let k = 0; k < r.length; k++) seconds[k] = r[k] === 0 ? Infinity : (transfer[k] as number) + work / (r[k] as number)
    return seconds
  }
  return { owner, slots, secondsIn }
}

/** Orders candidates by a score, lowest first; on a tie the master (no copying), then more cores. */
function preferred (score: (c: Candidate) => number): (a: Candidate, b: Candidate) => number {
  return (a, b) => score(a) - score(b) || Number(b.local) - Number(a.local) || b.cores - a.cores || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
