import { describe, expect, it } from 'vitest'
import { useLan, waitFor } from './harness/index.ts'
import { fakeLoadavg, makeMeshKey, nixLines, peersOf, readOr, runMesh, startBuilder, startMaster } from './support/mesh.ts'

/**
 * The first slice over real multicast between network namespaces: two builder agents and a
 * master, each in its own host, sharing only the mesh key. Every mesh process is the real CLI.
 */
describe('discovery on a LAN', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2'] })

  it('lists builders within 2 s, follows a load change within 3 s, and drops a stopped builder within 1 s', async () => {
    const meshKey = await makeMeshKey(lan)
    const [m, h1, h2] = [lan.host('m'), lan.host('b1'), lan.host('b2')]
    const master = await startMaster(m, { meshKey })
    expect(await readOr(master.nixFile, 'missing')).toBe('')

    const setLoad = await fakeLoadavg(h2, 0.1)
    const startedAt = Date.now()
    const [b1, b2] = await Promise.all([startBuilder(h1, { meshKey }), startBuilder(h2, { meshKey })])
    await waitFor(async () => (await nixLines(master.nixFile)).length === 2, { timeoutMs: 2000, intervalMs: 50, what: 'both builders in the master\'s Nix file' })
    const listedAfterMs = Date.now() - startedAt
    // The Guix file is written after the Nix file, a moment later on a busy machine.
    await waitFor(async () => ((await readOr(master.guixFile)).match(/\(build-machine/g) ?? []).length === 2, { timeoutMs: 2000, intervalMs: 50, what: 'both builders in the master\'s machines.scm' })

    const byHost = new Map((await nixLines(master.nixFile)).map((cols) => [cols[0], cols]))
    for (const [host, builder] of [[h1, b1], [h2, b2]] as const) {
      const cols = byHost.get(`ssh-ng://root@${host.address}`)
      expect(cols, `line for ${host.name}`).toHaveLength(8)
      expect(cols?.[1]?.split(',')).toContain('x86_64-linux')
      expect(cols?.[2]).toBe(`${master.stateDir}/ssh/id_ed25519`)
      expect(Buffer.from(cols?.[7] ?? '', 'base64').toString()).toBe(builder.publicKey)
    }
    const scm = await readOr(master.guixFile)
    expect(scm).toContain(`(name "${h1.address}")`)
    expect(scm).toContain(`(host-key "${b2.publicKey}")`)

    const table = await runMesh(m, ['peers'])
    expect(table).toMatch(/^NAME\s+ADDRESS/)
    expect(table).toMatch(new RegExp(`\\nb1\\s+${h1.address.replaceAll('.', '\\.')}\\s`))
    expect(table).toMatch(/\nb2\s/)
    const views = await peersOf(m)
    // Idle builders: the machine's other nix-daemon sessions are in other network namespaces.
    expect(views.map((p) => [p.name, p.trusted, p.eligible, p.slotsInUse])).toEqual([['b1', true, true, 0], ['b2', true, true, 0]])

    const loadChangedAt = Date.now()
    await setLoad(1.8)
    await waitFor(async () => (await peersOf(m)).find((p) => p.name === 'b2' && p.load === 0.9), {
      timeoutMs: 3000, intervalMs: 100, what: 'b2 showing load 0.9 in mesh peers --json'
    })
    const loadSeenAfterMs = Date.now() - loadChangedAt

    const stoppedAt = Date.now()
    b1.process.kill('SIGTERM')
    await waitFor(async () => {
      const [nix, scmNow] = await Promise.all([readOr(master.nixFile), readOr(master.guixFile)])
      return !nix.includes(h1.address) && !scmNow.includes(h1.address) && nix.includes(h2.address)
    }, { timeoutMs: 1000, intervalMs: 50, what: 'b1 gone from both files after SIGTERM' })
    const goneAfterMs = Date.now() - stoppedAt
    expect(await b1.process.exited).toEqual({ code: 0, signal: null })
    expect((await peersOf(m)).map((p) => p.name)).toEqual(['b2'])

    console.info(`listed after ${listedAfterMs} ms, load seen after ${loadSeenAfterMs} ms, gone after ${goneAfterMs} ms`)
    await b2.stop()
    expect((await master.process.stop()).code).toBe(0)
  })
})
