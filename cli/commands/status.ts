import { UsageError } from '../../common/errors.ts'
import { defaultSocketPath } from '../../common/paths.ts'
import type { PeerView } from '../../scheduler/peer.ts'
import { formatStatusTable, peerStatuses } from '../checks/status-table.ts'
import { askAgent } from '../control-client.ts'
import { formatOptions, parseOptions, type OptionSpec } from '../options.ts'
import type { Command } from './command.ts'
import { socketOption } from './common-options.ts'

const statusOptions: OptionSpec[] = [
  { flag: 'json', kind: 'boolean', help: 'print a JSON array, one object per peer, instead of a table' },
  socketOption,
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

export const statusCommand: Command = {
  name: 'status',
  help: () => `Usage: mesh status [--json]

Show, for each peer the local agent sees, what its last status said: host name, kernel and
architecture, load (per core), free disk, slots in use, buildmesh version, how long ago it
came, and how far its clock is from this master's (a warning past 5 s).

Options:
${formatOptions(statusOptions)}
`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, statusOptions, io.env)
    if (values.help === true) { io.stdout.write(statusCommand.help()); return 0 }
    if (positionals.length > 0) throw new UsageError(`mesh status takes no arguments, got "${positionals[0]}"`)
    const peers = await askAgent((values.socket as string | undefined) ?? defaultSocketPath(io.env), 'peers') as PeerView[]
    const statuses = peerStatuses(peers)
    io.stdout.write(values.json === true ? `${JSON.stringify(statuses, null, 2)}\n` : formatStatusTable(statuses))
    return 0
  }
}
