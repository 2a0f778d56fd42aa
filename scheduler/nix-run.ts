import { UsageError } from '../common/errors.ts'

/**
 * One run of Nix: the process a build hook serves, its parent. Each nix-build, and each
 * nix-daemon client, has its own goals and its own max-jobs, and asks its own waiting goals
 * again only when one of its own builds ends.
 */
export type NixRun = number

/**
 * Whether two things belong to the same run. Undefined is a run not known (a hook that does not
 * say): taken as any run, as when the agent knew of only one.
 */
export const sameRun = (a: NixRun | undefined, b: NixRun | undefined): boolean => a === undefined || b === undefined || a === b

/** A process id the hook sends (`field`). Undefined when not given; a usage error for anything else. */
export function parseProcessId (value: unknown, field: string): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`${field} must be a process id`)
  return value
}

/** A run as the hook names it: its pid. */
export const parseNixRun = (value: unknown): NixRun | undefined => parseProcessId(value, 'nixRun')

/**
 * Whether the run's process is still there. Signal 0 only asks: ESRCH means it has ended; EPERM
 * is a process of another user (the agent runs as its own), so alive. A run that ended builds
 * nothing more, whatever the agent last heard of its builds: Nix stopped (Ctrl-C, a failure
 * without --keep-going) and killed its local builds and hooks, which could not say so.
 */
export function nixRunAlive (run: NixRun): boolean {
  try {
    process.kill(run, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH'
  }
}
