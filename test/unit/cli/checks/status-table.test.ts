import { describe, expect, it } from 'vitest'
import { clockWarning, formatStatusTable, peerStatuses } from '../../../../cli/checks/status-table.ts'
import type { PeerView } from '../../../../scheduler/peer.ts'

const view = (over: Partial<PeerView>): PeerView => ({
  name: 'b1', peerId: null, addresses: ['10.0.0.2'], systems: ['x86_64-linux'], supportedFeatures: [], mandatoryFeatures: [],
  slots: 4, slotsInUse: 1, speed: 1, load: 0.25, freeDiskBytes: 50 * 1024 ** 3, sshUser: 'root', sshPort: 22, hostKey: null,
  trusted: true, untrustedReason: null, eligible: true, reason: null, lastSeen: '2026-11-24T12:00:07Z', statusAgeSeconds: 0.4,
  version: '0.1.0', kernel: '6.1.0-18-amd64', arch: 'x86_64', hostName: 'b1.lan', clockOffsetMs: 40, ...over
})

describe('mesh status', () => {
  it('shows what each builder said, clock offset signed, a skewed one flagged and explained', () => {
    const text = formatStatusTable(peerStatuses([
      view({}),
      view({ name: 'b2', hostName: 'b2', arch: 'aarch64', clockOffsetMs: 10_040, freeDiskBytes: 23 * 1024 ** 2, slotsInUse: 0, load: 1 }),
      view({ name: 'b3', clockOffsetMs: -6_000 }),
      view({ name: 'rogue', trusted: false, kernel: null, arch: null, hostName: null, clockOffsetMs: null, slotsInUse: null, version: null, statusAgeSeconds: null })
    ]))
    const lines = text.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^NAME\s+HOST\s+KERNEL\s+ARCH\s+LOAD\s+FREE\s+SLOTS\s+CLOCK\s+VERSION\s+STATUS$/)
    expect(lines[1]).toMatch(/^b1\s+b1\.lan\s+6\.1\.0-18-amd64\s+x86_64\s+0\.25\s+50\.0G\s+1\/4\s+\+0\.0s\s+0\.1\.0\s+0\.4s$/)
    expect(lines[2]).toMatch(/^b2\s+b2\s+\S+\s+aarch64\s+1\.00\s+23M\s+0\/4\s+\+10\.0s!\s+0\.1\.0\s+0\.4s$/)
    expect(lines[3]).toMatch(/\s-6\.0s!\s/)
    expect(lines[4]).toMatch(/^rogue\s+-\s+-\s+-\s+0\.25\s+50\.0G\s+-\/4\s+-\s+-\s+-$/)
    expect(lines.slice(5)).toEqual([
      'warning: b2\'s clock is 10.0 s ahead of this master\'s (more than 5.0 s): a skewed clock breaks signatures; set up time sync (NTP) on both.',
      'warning: b3\'s clock is 6.0 s behind this master\'s (more than 5.0 s): a skewed clock breaks signatures; set up time sync (NTP) on both.'
    ])
    expect(lines[1]?.indexOf('x86_64')).toBe(lines[2]?.indexOf('aarch64'))
  })

  it('warns only past 5 s, either way', () => {
    expect([clockWarning('b', 5000), clockWarning('b', -5000), clockWarning('b', null)]).toEqual([null, null, null])
    expect(clockWarning('b', 5001)).toMatch(/^b's clock is 5\.0 s ahead/)
  })

  it('gives scripts the same, one object per peer', () => {
    expect(peerStatuses([view({ clockOffsetMs: 9_990 })])).toEqual([{
      name: 'b1', trusted: true, hostName: 'b1.lan', kernel: '6.1.0-18-amd64', arch: 'x86_64', load: 0.25, freeDiskBytes: 50 * 1024 ** 3,
      slots: 4, slotsInUse: 1, clockOffsetMs: 9_990, clockWarning: expect.stringMatching(/^b1's clock is 10\.0 s ahead/), version: '0.1.0', statusAgeSeconds: 0.4
    }])
  })

  it('says so when nothing has been seen', () => {
    expect(formatStatusTable([])).toBe('no peers seen yet\n')
  })
})
