import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { makeClientKey, useLan, waitFor } from './harness/index.ts'
import { fakeLoadavg, makeMeshKey, nixLines, peersOf, readOr, startBuilder, startMaster } from './support/mesh.ts'
import { agentPeerId, ListWatcher, listed, logLines, masterPublicKey, msUntil, unlisted } from './support/watch.ts'

/**
 * The lists follow the LAN: a builder that dies, hangs or loses its cable leaves the master's
 * Nix and Guix files within 3 s and comes back when it recovers; a load change reorders them
 * within 2 s; a builder lets the master's SSH key in while the master is connected and takes it
 * out once the master has left. Every process is the real `mesh` CLI in its own host.
 */
describe('liveness', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2', 'b3'], per: 'test' })

  async function startMesh (names: string[], args: string[] = []): Promise<{ master: Awaited<ReturnType<typeof startMaster>>, builders: Array<Awaited<ReturnType<typeof startBuilder>>> }> {
    const meshKey = await makeMeshKey(lan)
    const master = await startMaster(lan.host('m'), { meshKey })
    const builders = await Promise.all(names.map(async (n) => await startBuilder(lan.host(n), { meshKey, args })))
    for (const n of names) {
      await waitFor(async () => await listed(master, lan.host(n).address), { timeoutMs: 8000, intervalMs: 50, what: `${n} in both of the master's files` })
    }
    return { master, builders }
  }

  it('drops a SIGKILLed builder from both files within 3 s', async () => {
    const { master, builders: [b1] } = await startMesh(['b1', 'b2'])
    const watcher = new ListWatcher(master)
    b1!.process.kill('SIGKILL')
    const goneMs = await msUntil(async () => await unlisted(master, lan.host('b1').address), { timeoutMs: 5000, what: 'b1 gone after SIGKILL' })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    watcher.stop()

    expect(goneMs).toBeLessThan(3000)
    expect((await b1!.process.exited).signal).toBe('SIGKILL')
    expect(watcher.lacking(lan.host('b2').address)).toEqual([])
    console.info(`SIGKILL: gone after ${goneMs} ms`)
  })

  it('drops a hung (SIGSTOP) and a cut-off builder within 3 s and lists them again when they recover, also after their mDNS entry expired', async () => {
    const { master, builders: [b1] } = await startMesh(['b1', 'b2', 'b3'])
    const [h1, h2, h3] = [lan.host('b1'), lan.host('b2'), lan.host('b3')]
    const watcher = new ListWatcher(master)
    // 4 s: the master still knows both over mDNS. 10 s: past the 7 s after which it forgets a
    // silent peer, so they must be discovered again.
    for (const outageMs of [4000, 10_000]) {
      b1!.process.kill('SIGSTOP')
      await lan.cutLink('b2')
      const [stoppedGoneMs, cutGoneMs] = await Promise.all([
        msUntil(async () => await unlisted(master, h1.address), { timeoutMs: 5000, what: 'b1 gone after SIGSTOP' }),
        msUntil(async () => await unlisted(master, h2.address), { timeoutMs: 5000, what: 'b2 gone after its link was cut' })
      ])
      await new Promise((resolve) => setTimeout(resolve, outageMs - Math.max(stoppedGoneMs, cutGoneMs)))
      expect(await unlisted(master, h1.address)).toBe(true)
      expect(await unlisted(master, h2.address)).toBe(true)
      const forgotten = logLines(master.process).filter((l) => l.msg === 'peer down' && l.why === 'expired').map((l) => l.peer)
      expect(forgotten.sort()).toEqual(outageMs < 7000 ? [] : ['b1', 'b2'])

      b1!.process.kill('SIGCONT')
      await lan.restoreLink('b2')
      const [contBackMs, restoredBackMs] = await Promise.all([
        msUntil(async () => await listed(master, h1.address), { timeoutMs: 10_000, what: 'b1 back after SIGCONT' }),
        msUntil(async () => await listed(master, h2.address), { timeoutMs: 10_000, what: 'b2 back after its link was restored' })
      ])
      console.info(`outage ${outageMs} ms: SIGSTOP gone after ${stoppedGoneMs} ms, SIGCONT back after ${contBackMs} ms; ` +
        `cut gone after ${cutGoneMs} ms, restored back after ${restoredBackMs} ms`)
      expect(stoppedGoneMs).toBeLessThan(3000)
      expect(cutGoneMs).toBeLessThan(3000)
      // Within one heartbeat while the master still knows them; within an mDNS query round
      // (2 s) and a dial once it had to forget them.
      expect(contBackMs).toBeLessThan(outageMs < 7000 ? 2000 : 5000)
      expect(restoredBackMs).toBeLessThan(outageMs < 7000 ? 2000 : 5000)
    }
    watcher.stop()
    expect(watcher.lacking(h3.address)).toEqual([])
  })

  it('reorders both files within 2 s of a load change, and mesh peers shows the new loads', async () => {
    const [h1, h2] = [lan.host('b1'), lan.host('b2')]
    // 2 cores per host (the machine's): a 1-minute load of 0.2 is 0.1 per core.
    const setLoad1 = await fakeLoadavg(h1, 0.2)
    const setLoad2 = await fakeLoadavg(h2, 1.6)
    // The same speed on both: a measured one varies with what else the 2 cores are doing, and
    // the lists rank by speed and load together.
    const { master } = await startMesh(['b1', 'b2'], ['--speed', '1'])
    const order = async (): Promise<{ nix: string[], guix: string[] }> => ({
      nix: (await nixLines(master.nixFile)).map((cols) => cols[0] ?? ''),
      guix: [...(await readOr(master.guixFile)).matchAll(/\(name "([^"]+)"\)/g)].map((m) => m[1] ?? '')
    })
    const idleFirst = (first: string, second: string) => async (): Promise<boolean> => {
      const now = await order()
      return now.nix.join() === `ssh-ng://root@${first},ssh-ng://root@${second}` && now.guix.join() === `${first},${second}`
    }
    await waitFor(idleFirst(h1.address, h2.address), { timeoutMs: 3000, what: 'b1 (idle) before b2 (busy) in both files' })

    await Promise.all([setLoad1(1.8), setLoad2(0.2)])
    const reorderedMs = await msUntil(idleFirst(h2.address, h1.address), { timeoutMs: 5000, what: 'b2 (now idle) before b1 in both files' })
    console.info(`load change: both files reordered after ${reorderedMs} ms`)
    expect(reorderedMs).toBeLessThan(2000)
    // b1's news alone reorders the files (0.9 against b2's old 0.8); b2's may come a status later.
    const loads = async (): Promise<Record<string, number | null>> => Object.fromEntries((await peersOf(lan.host('m'))).map((p) => [p.name, p.load]))
    await waitFor(async () => { const l = await loads(); return l.b1 === 0.9 && l.b2 === 0.1 }, { timeoutMs: 2000, intervalMs: 50, what: 'both new loads in mesh peers' })
    expect(await loads()).toEqual({ b1: 0.9, b2: 0.1 })
  })

  it('puts the master\'s key into a builder\'s authorized_keys, leaves the other lines alone, and removes it after the master leaves', async () => {
    const h1 = lan.host('b1')
    const keysFile = join(h1.dir, 'authorized_keys')
    const alice = await makeClientKey(join(h1.dir, 'alice'))
    // What an admin already had: a comment, a key with options, one without, a blank line.
    const before = `# keys managed by hand\nfrom="10.77.0.0/24" ${alice.publicKey}\n\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl carol@desk\n`
    await writeFile(keysFile, before, { mode: 0o600 })
    const { master, builders: [b1] } = await startMesh(['b1'])
    const masterId = await agentPeerId(master.process)
    const masterKey = await masterPublicKey(master.stateDir)
    const line = `restrict,command="nix-daemon --stdio" ${masterKey} buildmesh:${masterId}`

    await waitFor(async () => (await readFile(keysFile, 'utf8')).includes(masterId), { timeoutMs: 5000, what: 'the master\'s key in b1\'s authorized_keys' })
    expect(await readFile(keysFile, 'utf8')).toBe(`${before}${line}\n`)

    const stoppedAt = Date.now()
    expect((await master.stop() as { code: number | null }).code).toBe(0)
    // The builder waits out a grace period (AuthorizeServer revokeAfterMs, 10 s; no flag sets
    // it) so that a restarting master keeps access.
    const revokedMs = Date.now() - stoppedAt + await msUntil(async () => !(await readFile(keysFile, 'utf8')).includes(masterId), {
      timeoutMs: 15_000, intervalMs: 50, what: 'the master\'s key removed from b1\'s authorized_keys'
    })
    console.info(`master key removed ${revokedMs} ms after the master was stopped`)
    expect(revokedMs).toBeGreaterThan(9000)
    expect(revokedMs).toBeLessThan(13_000)
    expect(await readFile(keysFile, 'utf8')).toBe(before)
    expect(b1!.process.output()).toContain('master left the mesh: SSH key removed')
  })
})
