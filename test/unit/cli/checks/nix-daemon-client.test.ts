import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { CLIENT_PROTOCOL, NixDaemonClient, NixDaemonError, TRUST_PROBE_SETTING } from '../../../../cli/checks/nix-daemon-client.ts'
import { serveFakeNixDaemon, type FakeDaemonOptions } from '../../../support/fake-nix-daemon.ts'

/** A client wired to the fake daemon through two pipes, as an SSH channel would carry it. */
function connect (options: FakeDaemonOptions = {}): NixDaemonClient {
  const toDaemon = new PassThrough()
  const toClient = new PassThrough()
  void serveFakeNixDaemon(toDaemon, toClient, options).then(() => { toClient.end() })
  return new NixDaemonClient(toClient, toDaemon)
}

async function rejection (promise: Promise<unknown>): Promise<NixDaemonError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(NixDaemonError)
  return err as NixDaemonError
}

describe('NixDaemonClient', () => {
  it('claims Nix 2.8\'s protocol 1.34', () => {
    expect(CLIENT_PROTOCOL).toBe(0x122)
  })

  it.each([
    ['Nix 2.8', { protocol: 0x122, nixVersion: '2.8.0' }, { protocol: '1.34', nixVersion: '2.8.0' }],
    ['a newer daemon, which speaks ours', { protocol: 0x126, nixVersion: '2.24.9' }, { protocol: '1.34', nixVersion: '2.24.9' }],
    ['Nix 2.3, which sends no version', { protocol: 0x115 }, { protocol: '1.21', nixVersion: null }]
  ])('shakes hands with %s', async (_, options, hello) => {
    expect(await connect(options).handshake()).toEqual(hello)
  })

  it('reads a daemon that sends one byte at a time', async () => {
    const client = connect({ trickle: true, trusted: false })
    expect(await client.handshake()).toEqual({ protocol: '1.34', nixVersion: '2.8.0' })
    expect(await client.isTrusted()).toBe(false)
  })

  it('is trusted unless the daemon refuses the restricted setting, through activities and results', async () => {
    const trusted = connect({ trusted: true })
    await trusted.handshake()
    expect(await trusted.isTrusted()).toBe(true)
    const untrusted = connect({ trusted: false })
    await untrusted.handshake()
    expect(await untrusted.isTrusted()).toBe(false)
    expect(TRUST_PROBE_SETTING).toBe('narinfo-cache-negative-ttl')
  })

  it('throws the daemon\'s own error, traces and all', async () => {
    const client = connect({ setOptionsError: 'out of cheese' })
    await client.handshake()
    const err = await rejection(client.isTrusted())
    expect(err.reason).toBe('daemon-error')
    expect(err.message).toBe('out of cheese')
  })

  it('names what answered when it is not the daemon protocol', async () => {
    const toClient = new PassThrough()
    const client = new NixDaemonClient(toClient, new PassThrough())
    toClient.end('This account is currently not available.\n')
    const err = await rejection(client.handshake())
    expect(err.reason).toBe('not-daemon')
    expect(err.message).toBe('the remote command answered "This account is currently not available.", not the Nix daemon protocol')
  })

  it('says the session ended when the remote command prints nothing and exits', async () => {
    const toClient = new PassThrough()
    const client = new NixDaemonClient(toClient, new PassThrough())
    toClient.end()
    expect((await rejection(client.handshake())).reason).toBe('ended')
  })

  it('refuses a string longer than any handshake sends', async () => {
    const toClient = new PassThrough()
    const client = new NixDaemonClient(toClient, new PassThrough())
    const frame = Buffer.alloc(24)
    frame.writeBigUInt64LE(0x6478696fn, 0)
    frame.writeBigUInt64LE(0x122n, 8)
    frame.writeBigUInt64LE(1n << 40n, 16)
    toClient.write(frame)
    const err = await rejection(client.handshake())
    expect(err.reason).toBe('protocol')
  })
})
