import { spawn } from 'node:child_process'
import { UsageError, BuildmeshError } from '../../common/errors.ts'
import { defaultSocketPath } from '../../common/paths.ts'
import { renderGuixMachines } from '../../scheduler/guix-machines.ts'
import { renderNixMachines } from '../../scheduler/nix-machines.ts'
import type { Builder } from '../../scheduler/peer.ts'
import { askAgent } from '../control-client.ts'
import { formatOptions, parseOptions, type OptionSpec, type OptionValues } from '../options.ts'
import type { Command, CommandIo } from './command.ts'
import { socketOption } from './common-options.ts'

const selectionOptions: OptionSpec[] = [
  { flag: 'only', kind: 'list', arg: 'NAMES', help: 'use only these builders' },
  { flag: 'exclude', kind: 'list', arg: 'NAMES', help: 'never use these builders' },
  { flag: 'system', kind: 'string', arg: 'SYSTEM', help: 'only builders for this system, e.g. aarch64-linux' },
  { flag: 'feature', kind: 'list', arg: 'FEATURES', help: 'only builders with these features' },
  socketOption,
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

const buildersOptions: OptionSpec[] = [
  { flag: 'format', kind: 'string', arg: 'nix|guix', help: 'list format', defaultText: 'nix', check: (v) => { if (v !== 'nix' && v !== 'guix') throw new Error('expects nix or guix') } },
  ...selectionOptions
]

export class NoBuilderError extends BuildmeshError {
  constructor () {
    super('ERR_NO_BUILDER', 'no eligible builder matches that selection (see `mesh peers` for why)')
  }
}

/** The agent's eligible builders for this selection, and how its lists name them; unknown names are a usage error. */
async function select (values: OptionValues, io: CommandIo): Promise<{ builders: Builder[], sshKeyPath: string, overloadThreshold?: number }> {
  const only = values.only as string[] | undefined
  const exclude = values.exclude as string[] | undefined
  const answer = await askAgent((values.socket as string | undefined) ?? defaultSocketPath(io.env), 'builders', {
    only, exclude, system: values.system, features: values.feature
  }) as { builders: Builder[], known: string[], sshKeyPath: string, overloadThreshold?: number }
  const unknown = [...(only ?? []), ...(exclude ?? [])].filter((n) => !answer.known.includes(n))
  if (unknown.length > 0) {
    throw new UsageError(`unknown builder ${unknown.map((n) => `"${n}"`).join(', ')} (known: ${answer.known.join(', ') || 'none yet'})`)
  }
  return answer
}

export const buildersCommand: Command = {
  name: 'builders',
  help: () => `Usage: mesh builders [--only NAMES] [--exclude NAMES] [--system S] [--feature F] [--format nix|guix]

Print the eligible builders the local master agent sees, in Nix machines or Guix machines.scm
form, e.g. nix build --builders "$(mesh builders --only ruby,kana)" ...

Options:
${formatOptions(buildersOptions)}
`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, buildersOptions, io.env)
    if (values.help === true) { io.stdout.write(buildersCommand.help()); return 0 }
    if (positionals.length > 0) throw new UsageError(`mesh builders takes no arguments, got "${positionals[0]}"`)
    const { builders, sshKeyPath, overloadThreshold } = await select(values, io)
    io.stdout.write(values.format === 'guix'
      // An agent from before it said its threshold kept Guix's default.
      ? renderGuixMachines(builders, { sshKeyPath, overloadThreshold: overloadThreshold ?? 0.8 })
      : renderNixMachines(builders, { sshKeyPath }))
    return 0
  }
}

const POLL_EVERY_SECOND = 'build-poll-interval = 1'

export const buildCommand: Command = {
  name: 'build',
  help: () => `Usage: mesh build [--only NAMES] [--exclude NAMES] [--system S] [--feature F] -- COMMAND [ARGS...]

Run COMMAND with Nix's builders set to the selected eligible builders (through NIX_CONFIG),
so that its remote builds go only there. With mesh build-hook as Nix's build hook nothing
is built on this host either, and a selected builder that may not build for a while is
waited for, Nix asking again every second (build-poll-interval = 1, unless NIX_CONFIG
already says). Exits with COMMAND's exit code.

Options:
${formatOptions(selectionOptions)}
`,
  run: async (argv, io) => {
    const split = argv.indexOf('--')
    const { values, positionals } = await parseOptions(split === -1 ? argv : argv.slice(0, split), selectionOptions, io.env)
    if (values.help === true) { io.stdout.write(buildCommand.help()); return 0 }
    const command = split === -1 ? positionals : argv.slice(split + 1)
    if (command.length === 0) throw new UsageError('give the command to run after --, e.g. mesh build --only b2 -- nix-build default.nix')
    const { builders, sshKeyPath } = await select(values, io)
    if (builders.length === 0) throw new NoBuilderError()
    const lines = renderNixMachines(builders, { sshKeyPath }).trimEnd().split('\n').join(' ; ')
    // A build that waits for a selected builder is asked about again at each of Nix's polls:
    // every second, not every 5. The caller's own setting comes later, and wins.
    const nixConfig = [POLL_EVERY_SECOND, io.env.NIX_CONFIG, `builders = ${lines}`].filter((l) => l !== undefined && l !== '').join('\n')
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...io.env, NIX_CONFIG: nixConfig } })
      child.once('error', (err) => { reject(new BuildmeshError('ERR_COMMAND', `cannot run ${command[0]}: ${err.message}`)) })
      child.once('exit', (code, signal) => { resolve(code ?? (signal === null ? 1 : 128)) })
    })
  }
}
