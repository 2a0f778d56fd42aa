import type { PeerView } from '../scheduler/peer.ts'

const GiB = 1024 ** 3

function age (lastSeen: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(lastSeen)) / 1000))
  return seconds < 120 ? `${seconds}s` : `${Math.round(seconds / 60)}m`
}

/**
 * The table `mesh peers` prints: one peer a row, the reason last so it can be long. SEEN is the
 * last mDNS answer, STATUS the age of the last status over the mesh link.
 */
export function formatPeersTable (peers: PeerView[], now = Date.now()): string {
  if (peers.length === 0) return 'no peers seen yet\n'
  const header = ['NAME', 'ADDRESS', 'SYSTEMS', 'SLOTS', 'USED', 'SPEED', 'LOAD', 'FREE', 'TRUSTED', 'ELIGIBLE', 'SEEN', 'STATUS', 'REASON']
  const rows = peers.map((p) => [
    p.name,
    p.addresses[0] ?? '-',
    p.systems.join(',') || '-',
    String(p.slots),
    p.slotsInUse === null ? '-' : String(p.slotsInUse),
    String(p.speed),
    p.load.toFixed(2),
    `${(p.freeDiskBytes / GiB).toFixed(1)}G`,
    p.trusted ? 'yes' : 'no',
    p.eligible ? 'yes' : 'no',
    age(p.lastSeen, now),
    p.statusAgeSeconds === null ? '-' : `${p.statusAgeSeconds.toFixed(1)}s`,
    p.reason ?? ''
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]): string => cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}
