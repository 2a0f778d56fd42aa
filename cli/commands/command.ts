import type { Writable } from 'node:stream'

export interface CommandIo {
  stdout: Writable
  stderr: Writable
  env: NodeJS.ProcessEnv
}

/** One `mesh` subcommand. `run` resolves to the exit code; errors it throws become one line. */
export interface Command {
  name: string
  help: () => string
  run: (argv: string[], io: CommandIo) => Promise<number>
}
