import type { PeerView } from '../../scheduler/peer.ts'

/** Past this, signatures, certificates and file times made on one host look wrong on the other. */
export const CLOCK_WARN_MS = 5000

const GiB = 1024 ** 3

/** One builder as `mesh status --json` prints it: what `guix offload status` shows, and more. */
export interface PeerStatus {
  name: string
  trusted: boolean
  hostName: string | null
  kernel: string | null
  arch: string | null
  /** 1-minute load average / cores, 0..1. */
  load: number
  freeDiskBytes: number
  slots: number
  slotsInUse: number | null
  /** The builder's clock minus this master's, in milliseconds. */
  clockOffsetMs: number | null
  /** Why the offset matters, when it is past CLOCK_WARN_MS; else null. */
  clockWarning: string | null
  version: string | null
  statusAgeSeconds: number | null
}

function seconds (ms: number): string {
  return `${(Math.abs(ms) / 1000).toFixed(1)} s`
}

export function clockWarning (name: string, offsetMs: number | null): string | null {
  if (offsetMs === null || Math.abs(offsetMs) <= CLOCK_WARN_MS) return null
  return `${name}'s clock is ${seconds(offsetMs)} ${offsetMs > 0 ? 'ahead of' : 'behind'} this master's (more than ${seconds(CLOCK_WARN_MS)}): a skewed clock breaks signatures; set up time sync (NTP) on both.`
}

export function peerStatuses (peers: PeerView[]): PeerStatus[] {
  return peers.map((p) => ({
    name: p.name,
    trusted: p.trusted,
    hostName: p.hostName,
    kernel: p.kernel,
    arch: p.arch,
    load: p.load,
    freeDiskBytes: p.freeDiskBytes,
    slots: p.slots,
    slotsInUse: p.slotsInUse,
    clockOffsetMs: p.clockOffsetMs,
    clockWarning: clockWarning(p.name, p.clockOffsetMs),
    version: p.version,
    statusAgeSeconds: p.statusAgeSeconds
  }))
}

function clock (s: PeerStatus): string {
  if (s.clockOffsetMs === null) return '-'
  const tenths = Math.round(s.clockOffsetMs / 100)
  const text = `${tenths < 0 ? '-' : '+'}${(Math.abs(tenths) / 10).toFixed(1)}s`
  return s.clockWarning === null ? text : `${text}!`
}

function free (bytes: number): string {
  return bytes >= GiB ? `${(bytes / GiB).toFixed(1)}G` : `${Math.floor(bytes / (1024 * 1024))}M`
}

/**
 * The table `mesh status` prints, then one warning line per skewed clock. CLOCK is the
 * builder's clock minus this master's; STATUS the age of its last status.
 */
export function formatStatusTable (statuses: PeerStatus[]): string {
  if (statuses.length === 0) return 'no peers seen yet\n'
  const header = ['NAME', 'HOST', 'KERNEL', 'ARCH', 'LOAD', 'FREE', 'SLOTS', 'CLOCK', 'VERSION', 'STATUS']
  const rows = statuses.map((s) => [
    s.name,
    s.hostName ?? '-',
    s.kernel ?? '-',
    s.arch ?? '-',
    s.load.toFixed(2),
    free(s.freeDiskBytes),
    `${s.slotsInUse ?? '-'}/${s.slots}`,
    clock(s),
    s.version ?? '-',
    s.statusAgeSeconds === null ? '-' : `${s.statusAgeSeconds.toFixed(1)}s`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()
  const warnings = statuses.flatMap((s) => s.clockWarning === null ? [] : [`warning: ${s.clockWarning}`])
  return [line(header), ...rows.map(line), ...warnings].join('\n') + '\n'
}
