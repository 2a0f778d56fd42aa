import type { Writable } from 'node:stream'

/**
 * Log lines for the Nix that runs the hook. Nix 2.8 reads the hook's stderr line by line: a
 * line starting with `# ` is an answer, `@nix {json}` a log message it shows at the message's
 * level and hides above its own verbosity, and before an answer anything else is copied to the
 * terminal as it is; after `# accept` only `@nix` lines are shown (handleJSONLogMessage in
 * src/libutil/logging.cc, DerivationGoal::tryBuildHook and handleChildOutput).
 */

/** Nix's verbosity levels (src/libutil/logging.hh). */
export const NixLevel = { error: 0, warn: 1, notice: 2, info: 3, talkative: 4, chatty: 5, debug: 6 } as const

export type NixLevelValue = typeof NixLevel[keyof typeof NixLevel]

export type NixLog = (level: NixLevelValue, message: string) => void

/** `verbosity` is what Nix passed as the hook's argument: messages above it are not written at all. */
export function nixLog (output: Writable, verbosity: number): NixLog {
  return (level, message) => {
    if (level > verbosity) return
    output.write(`@nix ${JSON.stringify({ action: 'msg', level, msg: `buildmesh: ${message}` })}\n`)
  }
}
