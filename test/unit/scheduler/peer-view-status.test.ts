import { describe, expect, it } from 'vitest'
import { toPeerView } from '../../../scheduler/eligibility.ts'
import type { Peer } from '../../../scheduler/peer.ts'
import { advertisement, statusFrom } from '../../support/advertisements.ts'

const ad = advertisement()
const peer = (over: Partial<Peer>): Peer => ({
  key: 'builder-1._buildmesh._tcp.local', name: 'builder-1', addresses: ['10.9.0.2'], advertisement: ad, invalidReason: null,
  trusted: true, untrustedReason: null, status: null, statusAt: null, ssh: null, authorized: true, lastSeen: 1_000, ...over
})

describe('what mesh status shows of a peer', () => {
  it('carries the builder\'s OS and the clock offset its last status showed', () => {
    const status = statusFrom(ad, { kernel: '6.1.0-18-amd64', arch: 'x86_64', hostName: 'b1.lan', sentAt: 1_710_000_010_000 })
    const view = toPeerView(peer({ status, statusAt: 1_710_000_000_050 }), undefined, 1_710_000_000_300)
    expect(view).toMatchObject({ kernel: '6.1.0-18-amd64', arch: 'x86_64', hostName: 'b1.lan', clockOffsetMs: 9_950, statusAgeSeconds: 0.3 })
  })

  it('knows none of it without a status, or from a builder that did not send it', () => {
    expect(toPeerView(peer({}))).toMatchObject({ kernel: null, arch: null, hostName: null, clockOffsetMs: null })
    expect(toPeerView(peer({ status: statusFrom(ad, { sentAt: 2_000 }), statusAt: 2_500 }))).toMatchObject({ kernel: null, clockOffsetMs: -500 })
  })
})
