import { mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Host } from './host.ts'
import { setUpHost } from './host-setup.ts'
import { MAX_HOSTS, checkHostName, newLanNames, ownNetns, vethNames } from './naming.ts'
import type { LanNames } from './naming.ts'
import { startReaper } from './reaper.ts'
import type { Reaper } from './reaper.ts'
import { runLocal } from './run.ts'

export interface LanOptions {
  /** Host names, in address order: the first gets 10.77.0.1. */
  hosts: readonly string[]
  /** Extra lines for every host's /etc/nix/nix.conf. Default none. */
  nixConf?: string
  /** Keep the run's directory after close(), to look at stores and logs. Default: BUILDMESH_LAN_KEEP=1. */
  keepDir?: boolean
}

/** A LAN of hosts on this machine: one switch namespace with a bridge, one namespace per host. */
export class Lan {
  readonly names: LanNames
  /** Holds one directory per host. */
  readonly dir: string
  /** When the LAN was created, in ms since the epoch; process output is time-stamped from here. */
  readonly origin: number
  private readonly nixConf: string
  private readonly reaper: Reaper
  private readonly byName = new Map<string, { host: Host, index: number }>()
  private nextIndex = 1
  private closing: Promise<void> | undefined

  constructor (names: LanNames, dir: string, options: LanOptions, reaper: Reaper) {
    this.names = names
    this.dir = dir
    this.origin = Date.now()
    this.nixConf = options.nixConf ?? ''
    this.reaper = reaper
  }

  get prefix (): string {
    return this.names.prefix
  }

  /** In creation order. */
  get hosts (): Host[] {
    return [...this.byName.values()].sort((a, b) => a.index - b.index).map(({ host }) => host)
  }

  host (name: string): Host {
    return this.entry(name).host
  }

  /** Plugs one more host into the switch, e.g. a builder that joins later. */
  async addHost (name: string): Promise<Host> {
    checkHostName(name)
    if (this.closing !== undefined) throw new Error(`LAN ${this.prefix} is closed`)
    if (this.byName.has(name)) throw new Error(`LAN host ${name} exists already`)
    const index = this.nextIndex++
    if (index > MAX_HOSTS) throw new Error(`a LAN holds at most ${MAX_HOSTS} hosts`)
    const host = await setUpHost({
      names: this.names, name, index, lanDir: this.dir, origin: this.origin, nixConf: this.nixConf
    })
    this.byName.set(name, { host, index })
    return host
  }

  /** Takes the switch side of the host's cable down: the host keeps its address but loses carrier. */
  async cutLink (name: string): Promise<void> {
    await this.setPort(name, 'down')
  }

  async restoreLink (name: string): Promise<void> {
    await this.setPort(name, 'up')
  }

  /**
   * Kills every process of every host, deletes the namespaces (veths and bridge go with them)
   * and the run's directory. Idempotent; throws if anything of the run is left behind.
   */
  async close (): Promise<void> {
    this.closing ??= this.teardown()
    await this.closing
  }

  private async teardown (): Promise<void> {
    const processes = this.hosts.flatMap((host) => [host.holder, ...host.processes])
    // First by group: a process stopped before it entered its host is outside every namespace.
    for (const proc of processes) proc.kill('SIGKILL')
    const clean = await this.reaper.reap()
    await Promise.all(processes.map(async (proc) => await proc.exited))
    const left = ownNetns(this.prefix, (await runLocal('ip', ['netns', 'list'])).stdout)
    if (!clean || left.length > 0) {
      throw new Error(`LAN ${this.prefix} teardown incomplete; namespaces left: ${left.join(', ') || 'none'}`)
    }
  }

  private entry (name: string): { host: Host, index: number } {
    const entry = this.byName.get(name)
    if (entry === undefined) {
      throw new Error(`no LAN host ${JSON.stringify(name)}; hosts: ${[...this.byName.keys()].join(', ')}`)
    }
    return entry
  }

  private async setPort (name: string, state: 'up' | 'down'): Promise<void> {
    const { port } = vethNames(this.prefix, this.entry(name).index)
    await runLocal('ip', ['-n', this.names.switchNetns, 'link', 'set', port, state])
  }
}

/** Creates the switch and the hosts; on any failure, tears down what was built and rethrows. */
export async function createLan (options: LanOptions): Promise<Lan> {
  options.hosts.forEach(checkHostName)
  const names = await unusedNames()
  const dir = join(tmpdir(), `buildmesh-lan-${names.prefix}`)
  await mkdir(dir, { recursive: true })
  const keepDir = options.keepDir ?? process.env.BUILDMESH_LAN_KEEP === '1'
  const lan = new Lan(names, dir, options, startReaper(names.prefix, dir, keepDir))
  try {
    const sw = names.switchNetns
    await runLocal('ip', ['netns', 'add', sw])
    // Snooping would make the bridge drop multicast to ports that never sent an IGMP join.
    await runLocal('ip', ['-n', sw, '-batch', '-'], {
      input: `link add ${names.bridge} type bridge mcast_snooping 0\nlink set ${names.bridge} up\n`
    })
    // allSettled: teardown must not start while another host is still being built.
    const results = await Promise.allSettled(options.hosts.map(async (name) => await lan.addHost(name)))
    const failed = results.find((result) => result.status === 'rejected')
    if (failed !== undefined) throw failed.reason
  } catch (error) {
    await lan.close().catch(() => {})
    throw error
  }
  return lan
}

async function unusedNames (): Promise<LanNames> {
  const listing = (await runLocal('ip', ['netns', 'list'])).stdout
  for (;;) {
    const names = newLanNames()
    if (ownNetns(names.prefix, listing).length === 0) return names
  }
}
