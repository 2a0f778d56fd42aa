import { spawn } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Host, PRIVATE_MOUNTS, WITH_PARENT } from './host.ts'
import { HostProcess } from './host-process.ts'
import { hostNetns, vethNames } from './naming.ts'
import type { LanNames } from './naming.ts'
import { runLocal } from './run.ts'

export const SUBNET = '10.77.0'

export interface HostSetup {
  names: LanNames
  name: string
  /** 1-based; also the last byte of the host's address. */
  index: number
  lanDir: string
  origin: number
  /** Extra nix.conf lines. */
  nixConf: string
}

/*
 * The holder owns the host's hostname and mounts: `ip netns exec` puts it in the host's network
 * namespace (with a matching /sys), unshare gives it its own UTS and mount namespaces, private so
 * the bind mounts never reach the machine. It also turns off IPv6 duplicate address detection
 * before the veth arrives, so link-local addresses are usable at once instead of after ~2 s.
 * A bind mount needs its mount point: Debian's nix-bin ships no /etc/nix, so a missing one is
 * made, empty, on the machine, which is what Nix reads as no configuration.
 */
const HOLDER_SCRIPT = `set -e
hostname "$1"
mkdir -p ${PRIVATE_MOUNTS.map(([mountPoint]) => mountPoint).join(' ')}
${PRIVATE_MOUNTS.map(([mountPoint, sub]) => `mount --bind "$2/${sub}" ${mountPoint}`).join('\n')}
dad=/proc/sys/net/ipv6/conf/default/accept_dad
if [ -w "$dad" ]; then echo 0 > "$dad"; fi
echo ready
exec sleep infinity
`

/** Builds one host and plugs it into the switch; the caller tears down on failure. */
export async function setUpHost (setup: HostSetup): Promise<Host> {
  const { names, name, index } = setup
  const dir = join(setup.lanDir, name)
  for (const [, sub] of PRIVATE_MOUNTS) await mkdir(join(dir, sub), { recursive: true })
  await mkdir(join(dir, 'home'), { recursive: true })
  await writeFile(join(dir, 'etc-nix', 'nix.conf'), nixConf(name, setup.nixConf))

  const netns = hostNetns(names.prefix, name)
  await runLocal('ip', ['netns', 'add', netns])
  const holder = startHolder(netns, name, dir, setup.origin)
  await holder.waitForOutput(/^ready$/m, { timeoutMs: 10_000 })

  const veth = vethNames(names.prefix, index)
  const address = `${SUBNET}.${index}`
  await runLocal('ip', ['-n', names.switchNetns, 'link', 'add', veth.port, 'type', 'veth', 'peer', 'name', veth.host, 'netns', netns])
  await runLocal('ip', ['-n', names.switchNetns, 'link', 'set', veth.port, 'master', names.bridge, 'up'])
  // No default route: a packet for any address outside the LAN must fail here, not leave.
  await runLocal('ip', ['-n', netns, '-batch', '-'], {
    input: [
      'link set lo up',
      `addr add ${address}/24 dev ${veth.host}`,
      `link set ${veth.host} up`,
      `route add 224.0.0.0/4 dev ${veth.host}`
    ].join('\n') + '\n'
  })
  const host = new Host({ name, address, netns, interface: veth.host, dir, holder, origin: setup.origin })
  // As installing Nix does: Nix 2.8 sets up a store on first use, and not safely from several
  // processes at once ("SQLite database is busy", "schema is corrupt").
  await host.run('nix-store', ['--init'])
  return host
}

function startHolder (netns: string, name: string, dir: string, origin: number): HostProcess {
  const child = spawn('setpriv', [
    ...WITH_PARENT, 'ip', 'netns', 'exec', netns, 'unshare', '--uts', '--mount', '--propagation', 'private', '--',
    'sh', '-c', HOLDER_SCRIPT, 'holder', name, dir
  ], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  return new HostProcess(child, { host: name, command: 'namespace holder', origin })
}

/**
 * No binary cache (none is reachable: each build would wait on it for ~35 s), and no build users:
 * Nix kills every process of a build user before using it, and hosts share one PID space and
 * one /etc/passwd, so builds would kill each other's.
 */
function nixConf (host: string, extra: string): string {
  return [
    `# Written by the buildmesh LAN harness for host ${host}.`,
    'substituters =',
    'build-users-group =',
    'sandbox = false',
    'experimental-features = nix-command',
    extra
  ].join('\n') + '\n'
}
