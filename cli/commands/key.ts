import { UsageError } from '../../common/errors.ts'
import { DEFAULT_MESH_KEY_PATH, meshKeyFingerprint, writeMeshKey } from '../../common/mesh-key.ts'
import { formatOptions, parseOptions, type OptionSpec } from '../options.ts'
import type { Command } from './command.ts'

const keyOptions: OptionSpec[] = [
  { flag: 'force', kind: 'boolean', help: 'replace an existing key file (hosts that keep the old key are then cut off)' },
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

const usage = `Usage: mesh key generate [FILE] [--force]

Write a new mesh key to FILE (default ${DEFAULT_MESH_KEY_PATH}), mode 0600. Only hosts that
hold the same key can join the mesh: copy the file to every host, at the same path or named
with \`mesh agent --mesh-key FILE\`.`

export const keyCommand: Command = {
  name: 'key',
  help: () => `${usage}\n\nOptions:\n${formatOptions(keyOptions)}\n`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, keyOptions, io.env)
    if (values.help === true) { io.stdout.write(keyCommand.help()); return 0 }
    const [subcommand, file = DEFAULT_MESH_KEY_PATH, ...extra] = positionals
    if (subcommand === undefined) throw new UsageError('expects a subcommand: mesh key generate [FILE]')
    if (subcommand !== 'generate') throw new UsageError(`unknown subcommand "${subcommand}" (subcommands: generate)`)
    if (extra.length > 0) throw new UsageError(`mesh key generate takes at most one FILE, got "${extra[0]}" too`)
    const key = await writeMeshKey(file, { force: values.force === true })
    io.stdout.write(`wrote mesh key to ${file} (fingerprint ${meshKeyFingerprint(key)}); copy this file to every host, mode 0600\n`)
    return 0
  }
}
