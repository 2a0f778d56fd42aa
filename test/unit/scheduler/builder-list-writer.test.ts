import { EventEmitter } from 'node:events'
import { mkdtemp, readFile, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { BuilderListWriter } from '../../../scheduler/builder-list-writer.ts'
import { defaultEligibilityPolicy } from '../../../scheduler/eligibility.ts'
import type { PeerSourceEvents } from '../../../scheduler/peer-source.ts'
import { PeerTable } from '../../../scheduler/peer-table.ts'
import { advertisement as base, sighting, statusFrom } from '../../support/advertisements.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'

const advertisement = (over: Partial<Advertisement> = {}): Advertisement => base({ name: 'b1', load: 0.1, sshUser: 'root', ...over })
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

interface Setup { source: EventEmitter<PeerSourceEvents>, writer: BuilderListWriter, nix: string, guix: string, clock: ManualClock, joinMesh: (ad: Advertisement, address?: string) => void }

async function setup (): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'bm-writer-'))
  const clock = new ManualClock()
  const source = Object.assign(new EventEmitter<PeerSourceEvents>(), { start () {}, stop () {} })
  const table = new PeerTable({ clock, log })
  table.follow(source)
  await table.start()
  const nix = join(dir, 'nix', 'machines')
  const guix = join(dir, 'machines.scm')
  const writer = new BuilderListWriter({ table, log }, { nixMachinesPath: nix, guixMachinesPath: guix, sshKeyPath: '/var/lib/buildmesh/ssh/id_ed25519', overloadThreshold: 0.8, policy: defaultEligibilityPolicy })
  await writer.start()
  /** A builder that advertised, passed the handshake and sent its status. */
  const joinMesh = (ad: Advertisement, address = '10.9.0.2'): void => {
    const s = sighting(ad, clock.now(), address)
    source.emit('sighting', s)
    table.setTrust(s.key, true, null)
    table.setStatus(s.key, statusFrom(ad), clock.now())
    table.setAuthorized(s.key, true)
  }
  return { source, writer, nix, guix, clock, joinMesh }
}

describe('BuilderListWriter', () => {
  it('writes empty lists at start, then one line per eligible peer, fastest first', async () => {
    const { writer, nix, guix, joinMesh, source, clock } = await setup()
    expect(await readFile(nix, 'utf8')).toBe('')
    expect(await readFile(guix, 'utf8')).toContain('(list')
    joinMesh(advertisement({ name: 'slow', speed: 1 }), '10.9.0.2')
    joinMesh(advertisement({ name: 'fast', speed: 4 }), '10.9.0.3')
    joinMesh(advertisement({ name: 'full', freeDiskBytes: 50 * 1024 ** 2 }), '10.9.0.4')
    source.emit('sighting', sighting(advertisement({ name: 'unverified' }), clock.now(), '10.9.0.5'))
    await writer.flushed()
    const lines = (await readFile(nix, 'utf8')).trimEnd().split('\n')
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['ssh-ng://root@10.9.0.3', 'ssh-ng://root@10.9.0.2'])
    const scm = await readFile(guix, 'utf8')
    expect(scm).toContain('"10.9.0.3"')
    expect(scm).not.toContain('10.9.0.4')
    expect(scm).not.toContain('10.9.0.5')
  })

  it('does not rewrite the files when nothing that they show changed', async () => {
    const { writer, nix, joinMesh } = await setup()
    joinMesh(advertisement())
    await writer.flushed()
    const before = await stat(nix)
    joinMesh(advertisement())
    await writer.flushed()
    const after = await stat(nix)
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
  })

  it('removes a peer that said goodbye', async () => {
    const { source, writer, nix, joinMesh } = await setup()
    joinMesh(advertisement())
    await writer.flushed()
    expect(await readFile(nix, 'utf8')).toContain('10.9.0.2')
    source.emit('gone', 'b1._buildmesh._tcp.local')
    await writer.flushed()
    expect(await readFile(nix, 'utf8')).toBe('')
  })
})
