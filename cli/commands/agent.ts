import { join } from 'node:path'
import type { AgentConfig } from '../../agent/agent.ts'
import { DEFAULT_MESH_KEY_PATH } from '../../common/mesh-key.ts'
import { systemProbeDeps } from '../../agent/probe/index.ts'
import { systemClock } from '../../common/clock.ts'
import { UsageError } from '../../common/errors.ts'
import { createLogger } from '../../common/logger.ts'
import { defaultSocketPath, defaultStateDir } from '../../common/paths.ts'
import { validateFeatures, validateHostName, validateSshUser, validateSystems } from '../../wire/fields.ts'
import { formatOptions, parseOptions, type OptionSpec, type OptionValues } from '../options.ts'
import type { Command } from './command.ts'
import { socketOption } from './common-options.ts'

/** The TCP port builders listen on for the mesh (libp2p); the NixOS module and the firewall notes use it too. */
export const DEFAULT_P2P_PORT = 4717

export const agentOptions: OptionSpec[] = [
  { flag: 'config', kind: 'string', arg: 'FILE', help: 'read options from a JSON file whose keys are the flags in camelCase (flags win)' },
  { flag: 'master', kind: 'boolean', help: 'discover peers and keep this host\'s builder lists up to date', defaultText: 'false' },
  { flag: 'no-builder', kind: 'boolean', help: 'do not offer this host as a builder', defaultText: 'offer it' },
  { flag: 'nix-machines', kind: 'string', arg: 'PATH', help: 'Nix machines file to keep up to date (point `builders = @PATH` at it)', defaultText: 'STATE-DIR/nix-machines' },
  { flag: 'guix-machines', kind: 'string', arg: 'PATH', help: 'Guix machines.scm to keep up to date', defaultText: 'STATE-DIR/guix-machines.scm' },
  { flag: 'ssh-key', kind: 'string', arg: 'FILE', help: 'private key the builder lists tell Nix and Guix to log in with', defaultText: 'STATE-DIR/ssh/id_ed25519' },
  { flag: 'mesh-key', kind: 'string', arg: 'FILE', help: 'the shared mesh key (make one with `mesh key generate`, copy it to every host)', defaultText: DEFAULT_MESH_KEY_PATH },
  { flag: 'authorized-keys', kind: 'string', arg: 'FILE', help: 'authorized_keys file this builder owns for masters\' keys (point sshd\'s AuthorizedKeysFile at it)', defaultText: 'STATE-DIR/authorized_keys' },
  { flag: 'p2p-port', kind: 'integer', min: 0, max: 65535, help: 'TCP port for mesh connections (0: any free port)', defaultText: String(DEFAULT_P2P_PORT) },
  { flag: 'overload-threshold', kind: 'number', min: 0, max: 1, help: 'load (0..1) at which a builder takes no new build; also Guix\'s overload-threshold', defaultText: '0.8' },
  { flag: 'name', kind: 'string', check: (v) => validateHostName(v, 'name'), help: 'name to advertise', defaultText: 'the host name' },
  { flag: 'systems', kind: 'list', check: (v) => validateSystems((v as string[]).join(','), 'systems'), help: 'systems this host builds for', defaultText: 'Nix system + extra-platforms + binfmt_misc emulation' },
  { flag: 'features', kind: 'list', check: (v) => validateFeatures((v as string[]).join(','), 'features'), help: 'supported features', defaultText: 'Nix system-features' },
  { flag: 'mandatory-features', kind: 'list', check: (v) => validateFeatures((v as string[]).join(','), 'mandatory-features'), help: 'features a build must require to be sent here', defaultText: 'none' },
  { flag: 'slots', kind: 'integer', min: 1, max: 1024, help: 'builds to run at once', defaultText: 'number of cores' },
  { flag: 'speed', kind: 'number', min: 0.001, max: 1e6, help: 'relative speed of this host', defaultText: 'measured by a 0.1 s CPU benchmark at start' },
  { flag: 'ssh-user', kind: 'string', check: (v) => validateSshUser(v, 'ssh-user'), help: 'user the master logs in as', defaultText: 'the user running the agent' },
  { flag: 'ssh-port', kind: 'integer', min: 1, max: 65535, help: 'port of this host\'s sshd', defaultText: '22' },
  { flag: 'ssh-host-key', kind: 'string', arg: 'FILE', help: 'SSH host public key to advertise', defaultText: '/etc/ssh/ssh_host_ed25519_key.pub' },
  { flag: 'state-dir', kind: 'string', arg: 'DIR', help: 'where the agent keeps its state', defaultText: '/var/lib/buildmesh as root, else ~/.local/state/buildmesh' },
  socketOption,
  { flag: 'interface', kind: 'string', arg: 'IF', help: 'network interface for mDNS', defaultText: 'all' },
  { flag: 'log-level', kind: 'string', help: 'trace, debug, info, warn, error or silent', defaultText: 'info', check: (v) => { if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v as string)) throw new Error('expects trace, debug, info, warn, error or silent') } },
  { flag: 'help', kind: 'boolean', help: 'show this help' }
]

const str = (v: unknown): string | undefined => v as string | undefined

/** Flags and config values, with the defaults filled in, as the agent library wants them. */
export function agentConfigFrom (values: OptionValues, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const stateDir = str(values.stateDir) ?? defaultStateDir(env)
  const master = values.master === true
  return {
    builder: values.noBuilder !== true,
    master,
    overrides: {
      name: str(values.name),
      systems: values.systems as string[] | undefined,
      features: values.features as string[] | undefined,
      mandatoryFeatures: values.mandatoryFeatures as string[] | undefined,
      slots: values.slots as number | undefined,
      speed: values.speed as number | undefined,
      sshUser: str(values.sshUser),
      sshPort: values.sshPort as number | undefined,
      sshHostKeyFile: str(values.sshHostKey)
    },
    nixMachinesPath: master ? str(values.nixMachines) ?? join(stateDir, 'nix-machines') : undefined,
    guixMachinesPath: master ? str(values.guixMachines) ?? join(stateDir, 'guix-machines.scm') : undefined,
    sshKeyPath: str(values.sshKey) ?? join(stateDir, 'ssh', 'id_ed25519'),
    meshKeyPath: str(values.meshKey) ?? DEFAULT_MESH_KEY_PATH,
    authorizedKeysPath: str(values.authorizedKeys) ?? join(stateDir, 'authorized_keys'),
    p2pPort: (values.p2pPort as number | undefined) ?? DEFAULT_P2P_PORT,
    stateDir,
    socketPath: str(values.socket) ?? defaultSocketPath(env),
    interface: str(values.interface),
    overloadThreshold: (values.overloadThreshold as number | undefined) ?? 0.8
  }
}

const usage = `Usage: mesh agent [options]

Run the buildmesh agent: offer this host as a builder over mDNS and, with --master,
discover the other hosts and keep the Nix and Guix builder lists up to date.`

export const agentCommand: Command = {
  name: 'agent',
  help: () => `${usage}\n\nOptions:\n${formatOptions(agentOptions)}\n`,
  run: async (argv, io) => {
    const { values } = await parseOptions(argv, agentOptions, io.env)
    if (values.help === true) { io.stdout.write(agentCommand.help()); return 0 }
    const config = agentConfigFrom(values, io.env)
    if (!config.builder && !config.master) throw new UsageError('--no-builder without --master leaves the agent nothing to do')
    const log = createLogger(values.logLevel as 'info' | undefined)
    // Loaded only here: libp2p and the rest of the agent take most of a second to load, and every
    // other command, `mesh build-hook` above all (Nix starts one per remote build), goes without.
    const { Agent } = await import('../../agent/agent.ts')
    const agent = new Agent({ log, clock: systemClock, probeDeps: { ...systemProbeDeps, log } }, config)
    await agent.start()
    log.info({ socket: config.socketPath, master: config.master, builder: config.builder }, 'agent started')
    await untilSignal(log, async () => { await agent.stop() })
    return 0
  }
}

/** Graceful on the first SIGINT/SIGTERM (goodbyes go out), forced on the second. */
async function untilSignal (log: { info: (o: object, m: string) => void }, shutdown: () => Promise<void>): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(1)
      stopping = true
      log.info({ signal }, 'shutting down')
      void shutdown().finally(resolve)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
