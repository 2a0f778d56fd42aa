import { fstatSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError } from '../../common/errors.ts'
import { defaultSocketPath, defaultStateDir } from '../../common/paths.ts'
import { BuildHookProxy } from '../build-hook/proxy.ts'
import { nixLog } from '../build-hook/nix-log.ts'
import { RealHook, realHookCommand, withSshTimeouts } from '../build-hook/real-hook.ts'
import { sshConfigHostName } from '../build-hook/ssh-destinations.ts'
import { rootsFile } from '../build-hook/run-roots.ts'
import { AgentSession } from '../control-client.ts'
import { formatOptions, parseOptions, type OptionSpec } from '../options.ts'
import type { Command } from './command.ts'
import { socketOption } from './common-options.ts'

const buildHookOptions: OptionSpec[] = [
  socketOption,
  { flag: 'nix-machines', kind: 'string', arg: 'PATH', help: 'the agent\'s Nix machines file: with `builders = @PATH` the agent chooses among all live builders and this host, and the setting\'s other machines are used besides; any other builders setting limits the builds to the machines listed', defaultText: 'STATE-DIR/nix-machines' },
  { flag: 'real-hook', kind: 'string', arg: 'PATH', help: 'Nix\'s own build hook, which runs the remote builds and takes over when the agent cannot decide', defaultText: '`nix` on PATH, run as build-remote' },
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

/** Nix waits on the hook's answer with a build slot idle: an agent slower than this is treated as down. */
const DECIDE_TIMEOUT_MS = 3000
/** A release after a failed build waits on the agent's SSH check of that builder (at most 5 s). */
const RELEASE_TIMEOUT_MS = 8000

/** Nix gives its hook the build log pipe as fds 4 and 5; anything but a pipe there is not ours to pass on. */
function builderLogFds (): number[] {
  return [4, 5].filter((fd) => {
    try {
      const stat = fstatSync(fd)
      return stat.isFIFO() || stat.isSocket()
    } catch {
      return false
    }
  })
}

async function readText (path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

const usage = `Usage: mesh build-hook [options] [VERBOSITY]

Nix's build hook, deciding each build on the agent's live view: on this host, on one builder
(through Nix's own hook, which copies and builds over SSH), or later. If the agent cannot
decide, Nix's own hook takes over, so builds never fail because the agent is down.
Nix runs it, passing its verbosity; Nix 2.8's \`build-hook\` is one program path without
arguments, so point it at a script:

  #!/bin/sh
  exec mesh build-hook "$@"`

export const buildHookCommand: Command = {
  name: 'build-hook',
  help: () => `${usage}\n\nOptions:\n${formatOptions(buildHookOptions)}\n`,
  run: async (argv, io) => {
    const { values, positionals } = await parseOptions(argv, buildHookOptions, io.env)
    if (values.help === true) { io.stdout.write(buildHookCommand.help()); return 0 }
    const [verbosity = '0', ...extra] = positionals
    if (!/^\d{1,2}$/.test(verbosity)) throw new UsageError(`VERBOSITY must be Nix's verbosity level, a number, got "${verbosity}"`)
    if (extra.length > 0) throw new UsageError(`takes at most one argument, got "${extra[0]}" too`)
    const socket = (values.socket as string | undefined) ?? defaultSocketPath(io.env)
    const command = realHookCommand(values.realHook as string | undefined)
    const passFds = builderLogFds()
    const agent = new AgentSession(socket)
    const proxy = new BuildHookProxy({
      input: process.stdin,
      output: io.stderr,
      askAgent: async (method, params) => await agent.ask(method, params, method === 'decide' ? DECIDE_TIMEOUT_MS : RELEASE_TIMEOUT_MS),
      readText,
      startRealHook: async (mode) => await RealHook.start({ command, verbosity, passFds, env: withSshTimeouts(io.env) }, mode),
      sshHostName: sshConfigHostName(io.env),
      log: nixLog(io.stderr, Number(verbosity))
    }, {
      agentMachinesFile: (values.nixMachines as string | undefined) ?? join(defaultStateDir(io.env), 'nix-machines'),
      // Nix starts its hooks itself: the parent is the nix-build, or the nix-daemon client's worker.
      nixRun: process.ppid,
      hookPid: process.pid,
      runRoots: rootsFile(join(io.env.NIX_STATE_DIR ?? '/nix/var/nix', 'temproots', String(process.ppid)))
    })
    try {
      return await proxy.run()
    } finally {
      agent.close()
      // Nix may hold our stdin open after the last answer; nothing more is read from it.
      process.stdin.destroy()
    }
  }
}
