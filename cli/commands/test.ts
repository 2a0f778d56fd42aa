import { readFile } from 'node:fs/promises'
import ssh2 from 'ssh2'
import { BuildmeshError, UsageError } from '../../common/errors.ts'
import { defaultSocketPath } from '../../common/paths.ts'
import { defaultEligibilityPolicy } from '../../scheduler/eligibility.ts'
import type { PeerView } from '../../scheduler/peer.ts'
import type { Advertisement } from '../../wire/advertisement.ts'
import { checkBuilders, checkTarget } from '../checks/check-builder.ts'
import { probeSsh } from '../checks/ssh-probe.ts'
import { copyRoundTrips } from '../checks/store-copy.ts'
import { formatTestReport } from '../checks/test-report.ts'
import type { CheckTarget } from '../checks/judge.ts'
import { askAgent } from '../control-client.ts'
import { formatOptions, parseOptions, type OptionSpec } from '../options.ts'
import type { Command } from './command.ts'
import { socketOption } from './common-options.ts'

const testOptions: OptionSpec[] = [
  { flag: 'json', kind: 'boolean', help: 'print a JSON array of results, one per builder, instead of lines' },
  { flag: 'timeout', kind: 'number', arg: 'SECONDS', min: 1, max: 600, help: 'give up on a builder after this long', defaultText: '30' },
  socketOption,
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

export class NoPeerToTestError extends BuildmeshError {
  constructor (pattern: string | undefined, untrusted: PeerView[]) {
    const why = untrusted.map((p) => `${p.name}: ${p.untrustedReason ?? 'not trusted'}`).join('; ')
    super('ERR_NO_PEER', `no trusted peer${pattern === undefined ? '' : ` matches "${pattern}"`}${why === '' ? '' : ` (${why})`}`)
  }
}

function pattern (text: string | undefined): RegExp | null {
  if (text === undefined) return null
  try {
    return new RegExp(text)
  } catch (err) {
    throw new UsageError(`"${text}" is not a regular expression: ${(err as Error).message}`)
  }
}

/** The master's key as the lists name it; one that SSH could not use fails the command, not every builder. */
async function readPrivateKey (path: string): Promise<Buffer> {
  let key: Buffer
  try {
    key = await readFile(path)
  } catch (err) {
    throw new BuildmeshError('ERR_SSH_KEY', `cannot read the master's SSH key ${path}: ${(err as Error).message} (run mesh test as the agent's user)`)
  }
  const parsed = ssh2.utils.parseKey(key)
  if (parsed instanceof Error) throw new BuildmeshError('ERR_SSH_KEY', `the master's SSH key ${path} is not usable: ${parsed.message}`)
  return key
}

export const testCommand: Command = {
  name: 'test',
  help: () => `Usage: mesh test [REGEX] [--json] [--timeout SECONDS]

Check every trusted builder the local master agent sees (or those whose name matches REGEX),
all at once, the way Nix will use them: SSH reachable, the pinned host key, login with the
master's key, the store daemon, trust, a store path copied there and back, free disk. One line
per step; a failed step says what to do. Exits 0 only when every builder passes.
Run it as the agent's user: it uses the master's SSH key and its Nix store.

Options:
${formatOptions(testOptions)}
`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, testOptions, io.env)
    if (values.help === true) { io.stdout.write(testCommand.help()); return 0 }
    if (positionals.length > 1) throw new UsageError(`mesh test takes at most one REGEX, got ${positionals.length} arguments`)
    const matches = pattern(positionals[0])
    const socket = (values.socket as string | undefined) ?? defaultSocketPath(io.env)
    const [peers, self, lists] = await Promise.all([
      askAgent(socket, 'peers') as Promise<PeerView[]>,
      askAgent(socket, 'self') as Promise<{ builder: Advertisement | null }>,
      // Asked only for the key the lists name: eligibility does not decide what gets tested.
      askAgent(socket, 'builders', {}) as Promise<{ sshKeyPath: string }>
    ])
    // The master builds locally, not over SSH: it is no builder of its own.
    const selected = peers.filter((p) => p.name !== self.builder?.name && (matches === null || matches.test(p.name)))
    const targets = selected.filter((p) => p.trusted).map(checkTarget).filter((t): t is CheckTarget => t !== null)
    if (targets.length === 0) throw new NoPeerToTestError(positionals[0], selected.filter((p) => !p.trusted))
    const privateKey = await readPrivateKey(lists.sshKeyPath)
    const checks = await checkBuilders(targets, {
      probeSsh,
      copyRoundTrip: copyRoundTrips({ keyPath: lists.sshKeyPath, env: io.env })
    }, {
      privateKey,
      timeoutMs: ((values.timeout as number | undefined) ?? 30) * 1000,
      minFreeDiskBytes: defaultEligibilityPolicy.minFreeDiskBytes
    })
    io.stdout.write(values.json === true ? `${JSON.stringify(checks, null, 2)}\n` : formatTestReport(checks))
    return checks.every((c) => c.passed) ? 0 : 1
  }
}
