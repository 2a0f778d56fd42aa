import { beforeAll, describe, expect, it } from 'vitest'
import type { PeerView } from '../../scheduler/peer.ts'
import { startAvahi, useLan, waitFor } from './harness/index.ts'
import { avahiBrowse, zeroconfBrowse, type ResolvedService } from './support/independent-mdns.ts'
import { makeMeshKey, nixLines, peersOf, readOr, runMesh, startBuilder, startMaster } from './support/mesh.ts'

/**
 * Our mDNS seen by other eyes: Avahi and python3-zeroconf, each in a host of its own, resolve
 * the builders with the TXT the master read; and a record Avahi publishes with a bad field is
 * shown by the master as invalid, naming the field, and never listed.
 */
describe('buildmesh over independent mDNS implementations', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2', 'av', 'zc'] })
  let master: Awaited<ReturnType<typeof startMaster>>
  let views: PeerView[]
  const builderNames = ['b1', 'b2']

  beforeAll(async () => {
    const meshKey = await makeMeshKey(lan)
    master = await startMaster(lan.host('m'), { meshKey })
    // Different slots and systems, so a match below cannot be a coincidence of defaults.
    await Promise.all([
      startBuilder(lan.host('b1'), { meshKey, args: ['--slots', '3', '--systems', 'x86_64-linux,i686-linux'] }),
      startBuilder(lan.host('b2'), { meshKey, args: ['--slots', '1'] })
    ])
    await waitFor(async () => (await nixLines(master.nixFile)).length === 2, { timeoutMs: 5000, what: 'both builders in the master\'s Nix file' })
    views = await peersOf(lan.host('m'))
  })

  /** What each builder's TXT must say, from `mesh peers --json` on the master. */
  function expectMatchesMaster (services: ResolvedService[], what: string): void {
    for (const name of builderNames) {
      const host = lan.host(name)
      const view = views.find((v) => v.name === name)
      expect(view?.eligible, `${name} eligible on the master`).toBe(true)
      const service = services.find((s) => s.name === name)
      expect(service, `${what} resolved ${name}`).toBeDefined()
      expect(service).toMatchObject({ hostName: `${name}.local`, address: host.address, port: 22 })
      expect(service?.txt, `${name}'s TXT as ${what} read it`).toMatchObject({
        v: '1',
        sys: view?.systems.join(','),
        slots: String(view?.slots),
        // The TXT carries two decimal places of the measured speed; the status carries it all.
        speed: String(Math.round((view?.speed ?? NaN) * 100) / 100),
        // Empty lists are sent by leaving the key out.
        ...(view?.supportedFeatures.length === 0 ? {} : { feat: view?.supportedFeatures.join(',') }),
        pid: view?.peerId,
        user: 'root',
        sport: '22'
      })
      expect(service?.txt.p2p).toMatch(/^\d+$/)
      // The host key goes only over the authenticated stream, never on the open LAN.
      expect(Object.keys(service?.txt ?? {})).not.toContain('hostkey')
    }
    expect(views.find((v) => v.name === 'b1')).toMatchObject({ slots: 3, systems: ['x86_64-linux', 'i686-linux'] })
    expect(views.find((v) => v.name === 'b2')).toMatchObject({ slots: 1 })
  }

  it('Avahi resolves every builder with the TXT the master shows', async () => {
    const av = lan.host('av')
    await startAvahi(av)
    const services = await waitFor(async () => {
      const found = await avahiBrowse(av)
      return builderNames.every((name) => found.some((s) => s.name === name)) ? found : null
    }, { timeoutMs: 15_000, intervalMs: 500, what: 'avahi-browse resolving b1 and b2' })
    expectMatchesMaster(services, 'avahi-browse')
  })

  it('python3-zeroconf resolves every builder with the TXT the master shows', async () => {
    const services = await zeroconfBrowse(lan.host('zc'), builderNames.length)
    expectMatchesMaster(services, 'python3-zeroconf')
  })

  it('shows a service Avahi publishes with a bad TXT field as invalid, naming the field, and never lists it', async () => {
    const [m, av] = [lan.host('m'), lan.host('av')]
    if (!lan.hosts.some((h) => h.processes.some((p) => p.command.startsWith('avahi-daemon') && p.running))) await startAvahi(av)
    // A record that is fine but for `sys`, which smuggles a `;` (a Nix 2.8 line separator).
    const publish = av.spawn('avahi-publish', ['-s', 'evil', '_buildmesh._tcp', '22',
      'v=1', 'sys=x86_64-linux;evil', 'slots=4', 'speed=9', 'load=0', 'disk=100000000000', 'user=root', 'sport=22'])
    await publish.waitForOutput(/Established under name 'evil'/)

    const evil = await waitFor(async () => (await peersOf(m)).find((p) => p.name === 'evil'), { timeoutMs: 10_000, what: 'evil in mesh peers --json' })
    expect(evil).toMatchObject({ trusted: false, eligible: false, slots: 0, systems: [] })
    expect(evil.addresses[0]).toBe(av.address)
    expect(evil.reason).toMatch(/^invalid advertisement: sys: /)
    expect(evil.reason).toContain('x86_64-linux;evil')

    const table = parseTable(await runMesh(m, ['peers']))
    expect(table.find((row) => row.NAME === 'evil'), `a row for evil in ${JSON.stringify(table)}`).toMatchObject({
      ADDRESS: av.address,
      TRUSTED: 'no',
      ELIGIBLE: 'no',
      REASON: expect.stringMatching(/^invalid advertisement: sys: "x86_64-linux;evil"/)
    })
    expect(table.find((row) => row.NAME === 'b1')).toMatchObject({ ELIGIBLE: 'yes', REASON: '' })

    // Avahi itself carries the record as published: the bad field was really on the wire.
    expect((await avahiBrowse(av)).find((s) => s.name === 'evil')?.txt.sys).toBe('x86_64-linux;evil')

    // Sampled for a few seconds while it is advertised: neither file ever names it.
    const until = Date.now() + 3000
    while (Date.now() < until) {
      const [nix, scm] = await Promise.all([readOr(master.nixFile), readOr(master.guixFile)])
      for (const text of [nix, scm]) {
        expect(text).not.toContain(av.address)
        expect(text).not.toContain('evil')
        for (const name of builderNames) expect(text).toContain(lan.host(name).address)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect((await nixLines(master.nixFile)).map((cols) => cols[0])).toEqual(
      expect.arrayContaining(builderNames.map((name) => `ssh-ng://root@${lan.host(name).address}`)))
    expect(await nixLines(master.nixFile)).toHaveLength(2)
    await publish.stop()
  })
})

/** `mesh peers` rows by column, cut where the header's words start (cells are padded to them). */
function parseTable (text: string): Array<Record<string, string>> {
  const [header = '', ...lines] = text.split('\n').filter((l) => l !== '')
  const starts = [...header.matchAll(/\S+/g)].map((match) => ({ name: match[0], at: match.index }))
  return lines.map((line) => Object.fromEntries(starts.map(({ name, at }, i) => [name, line.slice(at, starts[i + 1]?.at ?? line.length).trim()])))
}
