import { describe, expect, it } from 'vitest'
import { formatPeersTable } from '../../../cli/peers-table.ts'
import type { PeerView } from '../../../scheduler/peer.ts'

const now = Date.parse('2026-11-24T12:00:10Z')
const peer = (over: Partial<PeerView>): PeerView => ({
  name: 'b1', peerId: null, slotsInUse: 1, statusAgeSeconds: 0.4, version: '0.1.0', addresses: ['10.0.0.2'], systems: ['x86_64-linux'], supportedFeatures: [], mandatoryFeatures: [],
  slots: 4, speed: 1, load: 0.25, freeDiskBytes: 50 * 1024 ** 3, sshUser: 'root', sshPort: 22, hostKey: null,
  trusted: true, untrustedReason: null, eligible: true, reason: null, lastSeen: '2026-11-24T12:00:07Z',
  kernel: null, arch: null, hostName: null, clockOffsetMs: null, ...over
})

describe('mesh peers table', () => {
  it('shows one aligned row per peer with what a user needs to know', () => {
    const text = formatPeersTable([
      peer({}),
      peer({ name: 'rogue', addresses: ['10.0.0.9'], systems: [], slots: 0, slotsInUse: null, statusAgeSeconds: null, trusted: false, eligible: false, reason: 'invalid advertisement: slots: not a number' })
    ], now)
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^NAME\s+ADDRESS\s+SYSTEMS\s+SLOTS\s+USED\s+SPEED\s+LOAD\s+FREE\s+TRUSTED\s+ELIGIBLE\s+SEEN\s+STATUS\s+REASON$/)
    expect(lines[1]).toMatch(/^b1\s+10\.0\.0\.2\s+x86_64-linux\s+4\s+1\s+1\s+0\.25\s+50\.0G\s+yes\s+yes\s+3s\s+0\.4s$/)
    expect(lines[2]).toMatch(/\s-\s.*\s-\s+invalid advertisement: slots: not a number$/)
    expect(lines[2]?.indexOf('10.0.0.9')).toBe(lines[1]?.indexOf('10.0.0.2'))
  })

  it('says so when nothing has been seen', () => {
    expect(formatPeersTable([], now)).toBe('no peers seen yet\n')
  })
})
