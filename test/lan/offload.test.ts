import { beforeAll, describe, expect, it } from 'vitest'
import { canConnect, useLan, waitFor } from './harness/index.ts'
import { loadGuixMachines } from './support/guix.ts'
import { makeMeshKey, nixLines, peersOf, readOr, startMaster } from './support/mesh.ts'
import { buildOnMesh, countByBuilder, startMeshBuilder, writeJobs, type MeshBuilder } from './support/offload.ts'

const SLOTS = 2
const JOBS = 12

/**
 * Real Nix builds offloaded through the mesh: three builder hosts, each with its own sshd, store
 * and `mesh agent`, and a master running `mesh agent --master --no-builder`. The test hands each
 * host the mesh key and nothing else: the master's SSH key reaches the builders' authorized_keys
 * and the builders' host keys reach the master's lists only through the agents.
 */
describe('offloading Nix builds through the mesh', () => {
  const lan = useLan({ hosts: ['m', 'b1', 'b2', 'b3'] })
  let master: Awaited<ReturnType<typeof startMaster>>
  let builders: MeshBuilder[]

  beforeAll(async () => {
    const meshKey = await makeMeshKey(lan)
    master = await startMaster(lan.host('m'), { meshKey })
    builders = await Promise.all(['b1', 'b2', 'b3'].map(async (name) => await startMeshBuilder(lan.host(name), { meshKey, slots: SLOTS })))
    await waitFor(async () => (await nixLines(master.nixFile)).length === 3, { timeoutMs: 15_000, intervalMs: 50, what: 'three builders in the master\'s Nix file' })
  })

  it('builds 12 derivations on the builders the master discovered, pinning their real host keys', async () => {
    const m = lan.host('m')
    // The file the agent wrote, line by line: the address, the master's key, the slots and the sshd's own host key.
    const lines = new Map((await nixLines(master.nixFile)).map((cols) => [cols[0], cols]))
    const views = await peersOf(m)
    for (const b of builders) {
      const view = views.find((v) => v.name === b.host.name)
      expect(lines.get(`ssh-ng://root@${b.host.address}`)).toEqual([
        `ssh-ng://root@${b.host.address}`, view?.systems.join(','), `${master.stateDir}/ssh/id_ed25519`,
        String(SLOTS), String(Math.max(1, Math.round(view?.speed ?? NaN))), view?.supportedFeatures.join(',') || '-', '-', b.sshd.hostKeyBase64
      ])
      expect(view?.systems).toContain('x86_64-linux')
    }
    // The master's public key reached every builder's authorized_keys through the agents alone.
    const masterKey = (await readOr(`${master.stateDir}/ssh/id_ed25519.pub`)).trim().split(' ').slice(0, 2).join(' ')
    expect(masterKey).toMatch(/^ssh-ed25519 /)
    for (const b of builders) {
      await waitFor(async () => (await readOr(b.authorizedKeys)).includes(masterKey), { what: `the master's key in ${b.host.name}'s authorized_keys` })
    }

    const jobs = await writeJobs(m.dir, `${lan.prefix}-first`, JOBS)
    // No StrictHostKeyChecking=no or NIX_SSHOPTS anywhere: ssh checks the host key column.
    const { outputs, seconds, log } = await buildOnMesh(m, jobs, master.nixFile)

    expect(outputs).toHaveLength(JOBS)
    expect(new Set(outputs.map((o) => o.path)).size).toBe(JOBS)
    for (const o of outputs) expect(o.path).toMatch(new RegExp(`^/nix/store/[a-z0-9]{32}-${lan.prefix}-first-job-\\d+$`))
    const counts = countByBuilder(outputs)
    expect([...counts.keys()].every((name) => ['b1', 'b2', 'b3'].includes(name)), `built on ${[...counts.keys()].join(', ')}`).toBe(true)
    expect(counts.size).toBeGreaterThanOrEqual(2)
    // Nix's own log agrees: each output was copied back from the builder whose name it holds.
    const address = new Map(builders.map((b) => [b.host.name, b.host.address]))
    for (const o of outputs) expect(log).toContain(`copying path '${o.path}' from 'ssh-ng://root@${address.get(o.builtOn)}'`)
    console.info(`12 x 2 s on 3 x ${SLOTS} slots: ${seconds.toFixed(1)} s, by builder: ${JSON.stringify(Object.fromEntries(counts))}`)
  })

  it('writes a machines.scm that real Guile loads, with what the builders advertised', async () => {
    const views = await peersOf(lan.host('m'))
    const machines = await loadGuixMachines(lan.host('m'), master.guixFile)
    expect(machines).toHaveLength(3)
    const byName = new Map(machines.map((machine) => [machine.name, machine]))
    for (const b of builders) {
      const view = views.find((v) => v.name === b.host.name)
      expect(view?.eligible, `${b.host.name} eligible`).toBe(true)
      expect(byName.get(b.host.address)).toEqual({
        name: b.host.address,
        port: 22,
        systems: view?.systems,
        'host-key': b.sshd.hostKey,
        user: 'root',
        'private-key': `${master.stateDir}/ssh/id_ed25519`,
        'parallel-builds': SLOTS,
        speed: { real: view?.speed },
        features: view?.supportedFeatures,
        'overload-threshold': { real: 0.8 }
      })
      expect(view?.systems).toContain('x86_64-linux')
      expect(view?.hostKey).toBe(b.sshd.hostKey)
    }
  })

  it('drops a killed, unplugged builder within 3 s and builds the next batch on the others without waiting on it', async () => {
    const m = lan.host('m')
    const dead = builders[1]!
    const alive = builders.filter((b) => b !== dead)
    // Cable first, so not even the kernel's FIN for the killed agent's connections reaches the
    // master: it has only the silence of the status stream to go by (a 2 s status timeout).
    const killedAt = Date.now()
    await lan.cutLink(dead.host.name)
    dead.agent.process.kill('SIGKILL')
    await waitFor(async () => {
      const nix = await readOr(master.nixFile)
      return !nix.includes(`@${dead.host.address} `) && alive.every((b) => nix.includes(`@${b.host.address} `))
    }, { timeoutMs: 3000, intervalMs: 50, what: `${dead.host.name} gone from the master's Nix file` })
    const goneAfterMs = Date.now() - killedAt
    await waitFor(async () => !(await readOr(master.guixFile)).includes(`"${dead.host.address}"`), { timeoutMs: 1000, what: `${dead.host.name} gone from machines.scm` })
    // Its sshd still runs but nothing gets through: a build sent there would hang in TCP connect.
    expect(dead.sshd.process.running).toBe(true)
    expect(await canConnect(m, dead.host.address, 22, 1000)).toBe(false)

    const jobs = await writeJobs(m.dir, `${lan.prefix}-second`, JOBS)
    const { outputs, seconds, log } = await buildOnMesh(m, jobs, master.nixFile)
    expect(outputs).toHaveLength(JOBS)
    const counts = countByBuilder(outputs)
    expect(counts.has(dead.host.name)).toBe(false)
    expect([...counts.keys()].sort()).toEqual(alive.map((b) => b.host.name).sort())
    expect(log).not.toContain(dead.host.address)
    // 12 x 2 s on 2 x 2 slots is 6 s ideal and ~15 s with Nix's per-build overhead; one SYN
    // timeout to the dead host alone would be over 60 s (Linux retries a SYN for ~127 s).
    expect(seconds).toBeLessThan(40)
    console.info(`gone from the Nix file after ${goneAfterMs} ms; second batch on 2 x ${SLOTS} slots: ${seconds.toFixed(1)} s, by builder: ${JSON.stringify(Object.fromEntries(counts))}`)
  })
})
