import type { Machine } from './machines.ts'

/** What Nix (or guix-daemon) sends the build hook for one derivation: `try amWilling system drv features`. */
export interface HookRequest {
  /** The master has a free local slot (`max-jobs`). */
  amWilling: boolean
  system: string
  requiredFeatures: string[]
  /** From the .drv path. */
  name: string
  /** What a past build of this name took, if the master keeps such history (see Derivation). */
  pastWork: number | undefined
}

export type HookReply = (
  | { kind: 'accept', machine: string }
  /** Nix builds it locally if it has a slot; otherwise it waits for a build to end and asks again. */
  | { kind: 'decline' }
  /** Nix asks again at its next poll, 5 s later (`pollInterval`). */
  | { kind: 'postpone' }
) & {
  /** The hook read the store before it answered, which Nix waited for too (HookCosts.storeQuerySeconds). */
  readStore?: boolean
  /** The hook answered itself, as the agent had answered ahead (HookCosts.servedSeconds). */
  served?: boolean
  /** Waiters the agent weighed against its queue to answer ahead (HookCosts.planAheadSeconds). */
  plansAhead?: number
}

/** A build as the master saw it start: no more than it can know. */
export interface StartedBuild {
  name: string
  startedAt: number
  pastWork: number | undefined
  requiredFeatures: string[]
}

/** One machine as a hook may see it: its static facts, what runs there and its load. */
export interface MachineView {
  machine: Machine
  running: StartedBuild[]
  /** 0..1: busy cores over cores. */
  load: number
}

export interface PoolView {
  now: number
  machines: MachineView[]
  /** Names of the derivations built so far: their outputs are in the master's store. */
  built: ReadonlySet<string>
}

/** A hook keeps whatever state it likes between requests; the simulator gives it only the view. */
export type Hook = (request: HookRequest, pool: PoolView) => HookReply
