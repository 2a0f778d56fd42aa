import { BuildmeshError } from '../common/errors.ts'
import { agentCommand } from './commands/agent.ts'
import { buildHookCommand } from './commands/build-hook.ts'
import { buildCommand, buildersCommand } from './commands/builders.ts'
import type { Command, CommandIo } from './commands/command.ts'
import { keyCommand } from './commands/key.ts'
import { peersCommand } from './commands/peers.ts'
import { statusCommand } from './commands/status.ts'
import { testCommand } from './commands/test.ts'

export const commands: Command[] = [agentCommand, peersCommand, statusCommand, testCommand, buildersCommand, buildCommand, buildHookCommand, keyCommand]

function overview (): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2
  return `Usage: mesh COMMAND [options]

buildmesh: distributed Nix and Guix builds on a LAN, with no static builder list.

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n')}

Run \`mesh COMMAND --help\` for a command's options.
`
}

/** Runs one `mesh` invocation; returns the exit code. Every error becomes one line on stderr. */
export async function main (argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined) {
    io.stderr.write(overview())
    return 2
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(overview())
    return 0
  }
  const command = commands.find((c) => c.name === name)
  if (command === undefined) {
    io.stderr.write(`mesh: unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})\n`)
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    if (err instanceof BuildmeshError) {
      io.stderr.write(`mesh ${name}: ${err.message}\n`)
      return err.exitCode
    }
    io.stderr.write(`mesh ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`)
    return 1
  }
}
