import module from 'node:module'
import { BuildmeshError } from '../common/errors.ts'
import type { Command, CommandIo } from './commands/command.ts'

interface CommandEntry {
  name: string
  summary: string
  /** Each command is loaded only when run: Nix starts `mesh build-hook` once per remote build and waits for it. */
  load: () => Promise<Command>
}

export const commands: CommandEntry[] = [
  { name: 'agent', summary: 'run the agent (builder, and with --master the scheduler)', load: async () => (await import('./commands/agent.ts')).agentCommand },
  { name: 'peers', summary: 'show the peers the local agent sees', load: async () => (await import('./commands/peers.ts')).peersCommand },
  { name: 'status', summary: 'show each builder\'s kernel, load, disk, slots, clock and version', load: async () => (await import('./commands/status.ts')).statusCommand },
  { name: 'test', summary: 'check that each trusted builder can take builds, and say what to fix', load: async () => (await import('./commands/test.ts')).testCommand },
  { name: 'builders', summary: 'print a builder list for one invocation', load: async () => (await import('./commands/builders.ts')).buildersCommand },
  { name: 'build', summary: 'run a command (nix-build, nix build) with a chosen set of builders', load: async () => (await import('./commands/builders.ts')).buildCommand },
  { name: 'build-hook', summary: 'Nix\'s build hook, deciding each build on live data (set as Nix\'s build-hook)', load: async () => (await import('./commands/build-hook.ts')).buildHookCommand },
  { name: 'key', summary: 'make the mesh key that every host shares', load: async () => (await import('./commands/key.ts')).keyCommand }
]

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
  const entry = commands.find((c) => c.name === name)
  if (entry === undefined) {
    io.stderr.write(`mesh: unknown command "${name}" (commands: ${commands.map((c) => c.name).join(', ')})\n`)
    return 2
  }
  try {
    const command = await entry.load()
    // Node writes its compile cache (bin/mesh.js) at exit, but Nix ends its build hook with a
    // SIGKILL: write it now, while it holds every module the command needs. Nothing new, nothing written.
    module.flushCompileCache?.()
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
