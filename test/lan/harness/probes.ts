import { fileURLToPath } from 'node:url'
import type { Host } from './host.ts'
import type { HostProcess } from './host-process.ts'

const PROBE = fileURLToPath(new URL('./probe.ts', import.meta.url))

export interface MulticastGroup {
  /** Default 224.0.0.251, the mDNS group. */
  group?: string
  /** Default 5353, the mDNS port. */
  port?: number
}

/** Whether `from` can open a TCP connection to `address:port` within `timeoutMs`. */
export async function canConnect (from: Host, address: string, port: number, timeoutMs = 1000): Promise<boolean> {
  const result = await from.run(process.execPath, [PROBE, 'tcp-connect', address, String(port), String(timeoutMs)], {
    allowFailure: true,
    timeoutMs: timeoutMs + 5000
  })
  return result.code === 0
}

/**
 * Joins a multicast group in `host` and prints one line per datagram received, `FROM TEXT`:
 * wait on it with `waitForOutput`. Resolves once the listener has joined.
 */
export async function listenMulticast (host: Host, where: MulticastGroup = {}): Promise<HostProcess> {
  const { group = '224.0.0.251', port = 5353 } = where
  const proc = host.spawn(process.execPath, [PROBE, 'mcast-listen', group, String(port)])
  await proc.waitForOutput(/^listening$/m)
  return proc
}

/** Sends one datagram holding `text` to a multicast group from `host`. */
export async function sendMulticast (host: Host, text: string, where: MulticastGroup = {}): Promise<void> {
  const { group = '224.0.0.251', port = 5353 } = where
  await host.run(process.execPath, [PROBE, 'mcast-send', group, String(port), text])
}
