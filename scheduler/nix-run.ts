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

/** A run as the hook names it: its pid. Undefined when not given; a usage error for anything else. */
export function parseNixRun (value: unknown): NixRun | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new UsageError('nixRun must be a process id')
  return value
}
