import { Client } from 'ssh2'

export interface SshHandshakeResult {
  ok: boolean
  /** What went wrong, in words for `mesh peers`, or null. */
  reason: string | null
}

/**
 * Connects to a builder's sshd and checks that it answers with the host key the lists pin.
 * It offers no credentials: a refused login after a good key exchange means sshd is there and
 * is who it should be; whether our key gets in is what `mesh test` checks.
 */
export async function sshHandshake (host: string, port: number, hostKey: string, timeoutMs = 5000): Promise<SshHandshakeResult> {
  const pinned = Buffer.from(hostKey.split(' ')[1] ?? '', 'base64')
  return await new Promise((resolve) => {
    const client = new Client()
    let keySeen = false
    let keyMatched = false
    const finish = (result: SshHandshakeResult): void => {
      client.removeAllListeners()
      client.on('error', () => {})
      client.end()
      resolve(result)
    }
    client.on('error', (err: Error & { level?: string }) => {
      if (keySeen && keyMatched) finish({ ok: true, reason: null })
      else if (keySeen) finish({ ok: false, reason: 'host key does not match the one the builder reported' })
      else finish({ ok: false, reason: `unreachable: ${err.message}` })
    })
    client.on('ready', () => { finish({ ok: true, reason: null }) })
    client.connect({
      host,
      port,
      username: 'buildmesh-probe',
      readyTimeout: timeoutMs,
      tryKeyboard: false,
      authHandler: (_methods, _partial, next) => { next(false as unknown as never) },
      hostVerifier: (key: Buffer) => {
        keySeen = true
        keyMatched = key.equals(pinned)
        return keyMatched
      }
    })
  })
}
