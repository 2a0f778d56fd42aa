import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startAvahi, useLan, waitFor, type Lan } from './harness/index.ts'
import { makeMeshKey, peersOf, readOr, runMesh, startBuilder, startMaster } from './support/mesh.ts'
import { agentPeerId, ListWatcher, listed, logLines, masterPublicKey, startFakePeer } from './support/watch.ts'

/**
 * Only members build. An mDNS advertisement is open to anyone on the link, so a host that lacks
 * the mesh key, or has another one, or copies a member's advertisement without its identity,
 * must show up in `mesh peers` as untrusted, never reach the master's Nix or Guix file, and never
 * be handed the master's SSH key. Every rogue here is a real process in its own host.
 */
describe('only members build', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'r'], per: 'test' })

  /** A master and one real builder b1, listed in both files. */
  async function meshWithB1 (l: Lan): Promise<{ master: Awaited<ReturnType<typeof startMaster>>, builder: Awaited<ReturnType<typeof startBuilder>>, meshKey: string }> {
    const meshKey = await makeMeshKey(l)
    const master = await startMaster(l.host('m'), { meshKey })
    const builder = await startBuilder(l.host('b1'), { meshKey })
    await waitFor(async () => await listed(master, l.host('b1').address), { timeoutMs: 5000, intervalMs: 50, what: 'b1 in both of the master\'s files' })
    return { master, builder, meshKey }
  }

  it('a real agent with another mesh key, advertising under a member\'s name, is untrusted (wrong mesh key), never listed and never given the key', async () => {
    const { master } = await meshWithB1(lan)
    const [m, b1, r] = [lan.host('m'), lan.host('b1'), lan.host('r')]
    const otherKey = join(lan.dir, 'other-mesh.key')
    await runMesh(r, ['key', 'generate', otherKey])
    const watcher = new ListWatcher(master)
    // Host r, but instance name b1: the same service, the same name as the member.
    const rogue = await startBuilder(r, { meshKey: otherKey, args: ['--name', 'b1'] })

    const rogueView = await waitFor(async () => (await peersOf(m)).find((p) => p.addresses.includes(r.address)), {
      timeoutMs: 10_000, intervalMs: 50, what: 'the rogue in mesh peers --json'
    })
    expect(rogueView.name).toBe('b1')
    // The entry shows what is known so far: first "not verified yet", then what the dial found.
    const judged = await waitFor(async () => (await peersOf(m)).find((p) => p.addresses.includes(r.address) && p.untrustedReason !== 'not verified yet'), {
      timeoutMs: 10_000, intervalMs: 50, what: 'the rogue judged by the master'
    })
    expect(judged).toMatchObject({ trusted: false, eligible: false })
    expect(judged.untrustedReason).toMatch(/^wrong mesh key/)
    await new Promise((resolve) => setTimeout(resolve, 4000))
    const samples = watcher.stop()

    expect(samples.length).toBeGreaterThan(50)
    expect(watcher.containing(r.address)).toEqual([])
    const masterKey = await masterPublicKey(master.stateDir)
    // Both builders own the authorized_keys file their host's real sshd reads (support/mesh.ts).
    expect(await readOr(join(b1.dir, 'authorized_keys'))).toContain(masterKey)
    expect(await readOr(join(r.dir, 'authorized_keys'))).not.toContain(masterKey)
    expect(rogue.process.output()).not.toContain('master may log in')
    // The same instance name shares one table entry with b1 (see the report): b1 is dropped while
    // the rogue's answers are the latest, so how often b1 was listed is printed, not asserted.
    const b1Listed = samples.length - watcher.lacking(b1.address).length
    console.info(`rogue judged "${judged.untrustedReason}"; b1 listed in ${b1Listed} of ${samples.length} samples`)
  })

  it('a host advertising our service with no peer id (Avahi) is untrusted (no mesh identity) and never listed', async () => {
    const { master } = await meshWithB1(lan)
    const [m, b1, x] = [lan.host('m'), lan.host('b1'), lan.host('r')]
    await startAvahi(x)
    const watcher = new ListWatcher(master)
    // Faster than any member and idle: the builder a scheduler would pick first, were it listed.
    x.spawn('avahi-publish', ['-s', 'nokey', '_buildmesh._tcp', '22',
      'v=1', 'sys=x86_64-linux', 'slots=64', 'speed=100', 'load=0', `disk=${500 * 1024 ** 3}`, 'user=root', 'sport=22'])

    const view = await waitFor(async () => (await peersOf(m)).find((p) => p.name === 'nokey' && p.untrustedReason !== 'not verified yet'), {
      timeoutMs: 10_000, intervalMs: 50, what: 'the Avahi advertisement judged by the master'
    })
    expect(view.addresses).toContain(x.address)
    expect(view).toMatchObject({ peerId: null, trusted: false, eligible: false, speed: 100 })
    expect(view.untrustedReason).toMatch(/^advertises no mesh identity/)
    await new Promise((resolve) => setTimeout(resolve, 4000))
    watcher.stop()

    expect(watcher.containing(x.address)).toEqual([])
    expect(watcher.lacking(b1.address)).toEqual([])
    expect(await listed(master, b1.address)).toBe(true)
  })

  it('a host copying a member\'s advertisement (peer id, p2p port) with its own identity fails the handshake: id mismatch', async () => {
    const { master, builder, meshKey } = await meshWithB1(lan)
    const [m, b1] = [lan.host('m'), lan.host('b1')]
    const b1Id = await agentPeerId(builder.process)
    const [c, d] = await Promise.all([lan.addHost('c'), lan.addHost('d')])
    const watcher = new ListWatcher(master)
    // Both hold the right mesh key and listen on b1's p2p port; only the identity is missing.
    // c copies the TXT under its own name; d copies it under b1's name as well.
    const [copier, twin] = await Promise.all([
      startFakePeer(c, { name: 'c', meshKey, copyFrom: 'b1' }),
      startFakePeer(d, { name: 'b1', meshKey, copyFrom: 'b1' })
    ])
    expect(copier.stdout()).toContain(`"pid":"${b1Id}"`)

    const cView = await waitFor(async () => (await peersOf(m)).find((p) => p.name === 'c' && p.untrustedReason !== 'not verified yet'), {
      timeoutMs: 10_000, intervalMs: 50, what: 'c judged by the master'
    })
    expect(cView).toMatchObject({ peerId: b1Id, addresses: [c.address], trusted: false, eligible: false })
    expect(cView.untrustedReason).toMatch(/^id mismatch/)
    const dView = await waitFor(async () => (await peersOf(m)).find((p) => p.addresses.includes(d.address) && /^id mismatch/.test(p.untrustedReason ?? '')), {
      timeoutMs: 10_000, intervalMs: 50, what: 'd (as b1) judged by the master'
    })
    expect(dView).toMatchObject({ name: 'b1', peerId: b1Id, trusted: false, eligible: false })
    await new Promise((resolve) => setTimeout(resolve, 4000))
    watcher.stop()

    expect(watcher.containing(c.address)).toEqual([])
    expect(watcher.containing(d.address)).toEqual([])
    for (const fake of [copier, twin]) expect(fake.stdout()).not.toContain('authorize-request')
    // d shares b1's table entry (same instance name), so b1 is dropped while d's answers are the latest.
    const b1Listed = watcher.samples.length - watcher.lacking(b1.address).length
    expect(b1Listed).toBeGreaterThan(0)
    console.info(`c judged "${cView.untrustedReason}"; b1 listed in ${b1Listed} of ${watcher.samples.length} samples`)
  })

  it('a member sending malformed or oversized statuses has that stream closed with a warning, is never listed, and b1 stays listed', async () => {
    const { master, meshKey } = await meshWithB1(lan)
    const [m, b1] = [lan.host('m'), lan.host('b1')]
    const hosts = await Promise.all([lan.addHost('f1'), lan.addHost('f2'), lan.addHost('f3')])
    const watcher = new ListWatcher(master)
    const cases = [
      { name: 'f1', status: 'oversize', err: /^Message length too long/ },
      { name: 'f2', status: 'badjson', err: /^status: not JSON/ },
      { name: 'f3', status: 'injection', err: /^systems: "x86_64-linux\\nssh-ng:\/\/root@10\.77\.0\.66 / }
    ] as const
    const fakes = await Promise.all(cases.map(async (k, i) => await startFakePeer(hosts[i]!, { name: k.name, meshKey, status: k.status })))

    const warnings = await waitFor(() => {
      const bad = logLines(master.process).filter((l) => l.msg === 'bad status from peer: closing its stream')
      return cases.every((k) => bad.some((l) => l.peer === k.name)) ? bad : undefined
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'a warning for each fake' })
    for (const k of cases) {
      const line = warnings.find((l) => l.peer === k.name)
      expect(line?.level, k.name).toBe(40)
      expect(String(line?.err), k.name).toMatch(k.err)
    }
    // Every fake got its bad message through, so each stream really was closed on it.
    for (const [i, k] of cases.entries()) expect(fakes[i]!.stdout()).toContain(`"mode":"${k.status}"`)
    await new Promise((resolve) => setTimeout(resolve, 3000))
    const views = await peersOf(m)
    watcher.stop()

    for (const k of cases) {
      const view = views.find((p) => p.name === k.name)
      expect(view, k.name).toMatchObject({ trusted: false, eligible: false })
      expect(view?.untrustedReason, k.name).toMatch(/^bad status: /)
    }
    for (const host of hosts) expect(watcher.containing(host.address), host.name).toEqual([])
    expect(watcher.containing('10.77.0.66')).toEqual([])
    // The master kept serving b1 all along: in every sample of both files, its status fresh.
    expect(watcher.lacking(b1.address)).toEqual([])
    const b1View = views.find((p) => p.name === 'b1')
    expect(b1View).toMatchObject({ trusted: true, eligible: true })
    expect(b1View?.statusAgeSeconds).toBeLessThan(1.5)
    // Backoff: a peer that keeps sending garbage is not redialled twice a second.
    const perFake = warnings.length === 0 ? 0 : Math.max(...cases.map((k) => logLines(master.process).filter((l) => l.msg === 'bad status from peer: closing its stream' && l.peer === k.name).length))
    expect(perFake).toBeLessThanOrEqual(6)
    expect(master.process.running).toBe(true)
  })
})
