import { UsageError } from '../../common/errors.ts'
import { defaultSocketPath } from '../../common/paths.ts'
import type { PeerView } from '../../scheduler/peer.ts'
import { askAgent } from '../control-client.ts'
import { formatOptions, parseOptions, type OptionSpec } from '../options.ts'
import { formatPeersTable } from '../peers-table.ts'
import type { Command } from './command.ts'
import { socketOption } from './common-options.ts'

const peersOptions: OptionSpec[] = [
  { flag: 'json', kind: 'boolean', help: 'print a JSON array of peers instead of a table' },
  socketOption,
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

export const peersCommand: Command = {
  name: 'peers',
  help: () => `Usage: mesh peers [--json]\n\nShow the builders the local agent sees, whether they are trusted and eligible, and why not.\n\nOptions:\n${formatOptions(peersOptions)}\n`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, peersOptions, io.env)
    if (values.help === true) { io.stdout.write(peersCommand.help()); return 0 }
    if (positionals.length > 0) throw new UsageError(`mesh peers takes no arguments, got "${positionals[0]}"`)
    const peers = await askAgent((values.socket as string | undefined) ?? defaultSocketPath(io.env), 'peers') as PeerView[]
    io.stdout.write(values.json === true ? `${JSON.stringify(peers, null, 2)}\n` : formatPeersTable(peers))
    return 0
  }
}
