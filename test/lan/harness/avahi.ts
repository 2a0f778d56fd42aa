import { mkdir } from 'node:fs/promises'
import type { Host } from './host.ts'
import type { HostProcess } from './host-process.ts'

export interface Avahi {
  dbus: HostProcess
  avahi: HostProcess
  /** The mDNS host name Avahi announces, `NAME.local`. */
  hostName: string
}

/**
 * Starts a D-Bus system bus and Avahi in `host`: a real, independent mDNS stack, for checking
 * that what agents announce resolves elsewhere (`avahi-browse -rtp`) and that agents see what
 * Avahi publishes (`avahi-publish -s`). Both run in the foreground, as the host's processes.
 * Every host has its own /run, so each has its own bus and Avahi: any number of hosts may run one.
 */
export async function startAvahi (host: Host): Promise<Avahi> {
  await mkdir(host.pathOnMachine('/run/dbus'), { recursive: true })
  const dbus = host.spawn('dbus-daemon', ['--system', '--nofork', '--nopidfile', '--print-address=1'])
  await dbus.waitForOutput(/^unix:path=/m, { stream: 'stdout' })
  // As root and without a chroot, as checked on this machine: the namespaces do the isolating.
  const avahi = host.spawn('avahi-daemon', ['--no-drop-root', '--no-chroot', '--no-rlimits'])
  const ready = await avahi.waitForOutput(/Server startup complete\. Host name is (\S+)\. /)
  return { dbus, avahi, hostName: ready[1] ?? `${host.name}.local` }
}
