/*
 * A tiny network probe run inside LAN hosts by probes.ts (plain Node, no dependencies):
 *   probe.ts tcp-connect ADDRESS PORT TIMEOUT_MS   exit 0 if a connection opened, 1 if not
 *   probe.ts mcast-listen GROUP PORT               print "listening", then "FROM TEXT" per datagram
 *   probe.ts mcast-send GROUP PORT TEXT            send one datagram to the group
 */
import { createSocket } from 'node:dgram'
import { connect } from 'node:net'

const [mode, target = '', portText = '', extra = ''] = process.argv.slice(2)
const port = Number(portText)

if (mode === 'tcp-connect') {
  const socket = connect({ host: target, port, timeout: Number(extra) })
  const finish = (code: number): void => {
    socket.destroy()
    process.exit(code)
  }
  socket.once('connect', () => { finish(0) })
  socket.once('timeout', () => { finish(1) })
  socket.once('error', () => { finish(1) })
} else if (mode === 'mcast-listen') {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  socket.on('message', (message, from) => {
    process.stdout.write(`${from.address} ${message.toString('utf8')}\n`)
  })
  socket.bind(port, () => {
    socket.addMembership(target)
    process.stdout.write('listening\n')
  })
} else if (mode === 'mcast-send') {
  const socket = createSocket({ type: 'udp4', reuseAddr: true })
  socket.send(extra, port, target, (error) => {
    socket.close()
    process.exitCode = error === null ? 0 : 1
  })
} else {
  process.stderr.write(`probe.ts: unknown mode ${String(mode)}\n`)
  process.exitCode = 2
}
