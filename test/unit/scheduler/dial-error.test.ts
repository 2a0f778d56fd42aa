import { describe, expect, it } from 'vitest'
import { classifyDialError } from '../../../scheduler/dial-error.ts'

/** Errors as libp2p 3 throws them from `dial` (checked against real nodes on loopback and the LAN harness). */
const named = (name: string, message: string, extra: object = {}): Error => Object.assign(new Error(message), { name, ...extra })
const timeout = (): Error => named('TimeoutError', 'The operation was aborted due to timeout', { code: 23 })

describe('classifyDialError', () => {
  it.each([
    ['another mesh key: the far side resets the garbled handshake', named('EncryptionFailedError', 'read ECONNRESET'), { handshakeStarted: true }, /^wrong mesh key/],
    ['another mesh key: the garbled handshake never completes', timeout(), { handshakeStarted: true }, /^wrong mesh key/],
    ['a copied peer id', named('EncryptionFailedError', 'Payload identity key 12D3KooWA does not match expected remote identity key 12D3KooWB'), { handshakeStarted: true }, /^id mismatch/],
    ['nothing listens', named('Error', 'connection error 10.77.0.9:4717: connect ECONNREFUSED 10.77.0.9:4717', { code: 'ECONNREFUSED' }), { handshakeStarted: false }, /^unreachable: nothing answers/],
    ['a hung or cut-off host', timeout(), { handshakeStarted: false }, /^unreachable: connection timed out/],
    ['the TCP connect itself timed out', named('TimeoutError', 'Connection timeout after 3001ms'), undefined, /^unreachable: connection timed out/],
    ['a member without the status protocol', named('UnsupportedProtocolError', 'Protocol selection failed - could not negotiate /buildmesh/status/1.0.0'), { handshakeStarted: true }, /^no status service/],
    ['a dial that joined another one for the same peer id', named('AddressMismatchError', 'dialled 10.77.0.3:4717 but the connection goes to 10.77.0.2:4717'), { handshakeStarted: true }, /^not verified yet/]
  ])('%s', (_, err, progress, reason) => {
    expect(classifyDialError(err, progress)).toMatch(reason)
  })

  it('looks inside an AggregateError', () => {
    expect(classifyDialError(new AggregateError([named('Error', 'connect EHOSTUNREACH')], 'all dials failed'))).toMatch(/^unreachable/)
  })
})
