import type { Host } from '../harness/host.ts'

/*
 * What mDNS stacks other than ours see: Avahi's avahi-browse and python3-zeroconf, run in a
 * host of the LAN. Both report a resolved service as name, host name, address, port and TXT.
 */

export interface ResolvedService {
  name: string
  hostName: string
  address: string
  port: number
  /** TXT strings split at the first `=`; a key without `=` maps to null. */
  txt: Record<string, string | null>
}

/**
 * Parses `avahi-browse -rp` output: one `=;IF;PROTO;NAME;TYPE;DOMAIN;HOST;ADDRESS;PORT;TXT` line
 * per resolved service and protocol, TXT as space-separated quoted strings. Names come escaped
 * (`\059` for `;`, `\032` for a space), so splitting at `;` is safe. IPv4 only.
 */
export function parseAvahiBrowse (output: string): ResolvedService[] {
  const services: ResolvedService[] = []
  for (const line of output.split('\n')) {
    if (!line.startsWith('=;')) continue
    const fields = line.split(';')
    if (fields[2] !== 'IPv4' || fields.length < 10) continue
    const txt: Record<string, string | null> = {}
    for (const match of fields.slice(9).join(';').matchAll(/"((?:[^"\\]|\\.)*)"/g)) {
      const text = unescapeAvahi(match[1] ?? '')
      const at = text.indexOf('=')
      const key = (at === -1 ? text : text.slice(0, at)).toLowerCase()
      if (!(key in txt)) txt[key] = at === -1 ? null : text.slice(at + 1)
    }
    services.push({
      name: unescapeAvahi(fields[3] ?? ''),
      hostName: fields[6] ?? '',
      address: fields[7] ?? '',
      port: Number(fields[8]),
      txt
    })
  }
  return services
}

function unescapeAvahi (text: string): string {
  return text.replace(/\\(\d{3}|.)/g, (_, c: string) => c.length === 3 ? String.fromCharCode(Number(c)) : c)
}

/** Browses and resolves with avahi-browse in `host` (which must run Avahi), IPv4 services only. */
export async function avahiBrowse (host: Host, type = '_buildmesh._tcp'): Promise<ResolvedService[]> {
  const { stdout } = await host.run('avahi-browse', ['-rtp', type], { timeoutMs: 20_000 })
  return parseAvahiBrowse(stdout)
}

// Browses until `want` services resolved or the deadline, then prints them as JSON.
const ZEROCONF_BROWSE = String.raw`
import json, sys, time
from zeroconf import IPVersion, ServiceBrowser, Zeroconf
type_, want, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
zc = Zeroconf(ip_version=IPVersion.V4Only)
names = set()
class Listener:
    def add_service(self, zc, t, name): names.add(name)
    def update_service(self, zc, t, name): names.add(name)
    def remove_service(self, zc, t, name): names.discard(name)
browser = ServiceBrowser(zc, type_, Listener())
found = {}
while time.monotonic() < deadline and len(found) < want:
    for name in sorted(names - found.keys()):
        info = zc.get_service_info(type_, name, timeout=1000)
        if info is not None and info.parsed_addresses():
            found[name] = {
                'name': name[:-len(type_) - 1],
                'hostName': (info.server or '').rstrip('.'),
                'address': info.parsed_addresses()[0],
                'port': info.port,
                'txt': {k.decode('utf-8').lower(): None if v is None else v.decode('utf-8') for k, v in info.properties.items()},
            }
    time.sleep(0.1)
browser.cancel()
zc.close()
print(json.dumps(list(found.values())))
`

/** python3-zeroconf (the system Python's; pyenv's lacks it) browsing in `host`. */
export async function zeroconfBrowse (host: Host, want: number, { type = '_buildmesh._tcp.local.', seconds = 10 } = {}): Promise<ResolvedService[]> {
  const { stdout } = await host.run('/usr/bin/python3', ['-c', ZEROCONF_BROWSE, type, String(want), String(seconds)], { timeoutMs: (seconds + 10) * 1000 })
  return JSON.parse(stdout) as ResolvedService[]
}
