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
import { advertisement as base, sighting } from '../../support/advertisements.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'

const advertisement = (over: Partial<Advertisement> = {}): Advertisement => base({ name: 'b1', load: 0.1, sshUser: 'root', ...over })
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

async function setup (): Promise<{ source: EventEmitter<PeerSourceEvents>, writer: BuilderListWriter, nix: string, guix: string, clock: ManualClock }> {
  const dir = await mkdtemp(join(tmpdir(), 'bm-writer-'))
  const clock = new ManualClock()
  const source = Object.assign(new EventEmitter<PeerSourceEvents>(), { start () {}, stop () {} })
  const table = new PeerTable({ clock, log }, { trustAll: true })
  table.follow(source)
  await table.start()
  const nix = join(dir, 'nix', 'machines')
  const guix = join(dir, 'machines.scm')
  const writer = new BuilderListWriter({ table, log }, { nixMachinesPath: nix, guixMachinesPath: guix, sshKeyPath: '/var/lib/buildmesh/ssh/id_ed25519', overloadThreshold: 0.8, policy: defaultEligibilityPolicy })
  await writer.start()
  return { source, writer, nix, guix, clock }
}

describe('BuilderListWriter', () => {
  it('writes empty lists at start, then one line per eligible peer, fastest first', async () => {
    const { source, writer, nix, guix, clock } = await setup()
    expect(await readFile(nix, 'utf8')).toBe('')
    expect(await readFile(guix, 'utf8')).toContain('(list')
    source.emit('sighting', sighting(advertisement({ name: 'slow', speed: 1 }), clock.now(), '10.9.0.2'))
    source.emit('sighting', sighting(advertisement({ name: 'fast', speed: 4 }), clock.now(), '10.9.0.3'))
    source.emit('sighting', sighting(advertisement({ name: 'full', freeDiskBytes: 50 * 1024 ** 2 }), clock.now(), '10.9.0.4'))
    await writer.flushed()
    const lines = (await readFile(nix, 'utf8')).trimEnd().split('\n')
    expect(lines.map((l) => l.split(' ')[0])).toEqual(['ssh-ng://root@10.9.0.3', 'ssh-ng://root@10.9.0.2'])
    const scm = await readFile(guix, 'utf8')
    expect(scm).toContain('"10.9.0.3"')
    expect(scm).not.toContain('10.9.0.4')
  })

  it('does not rewrite the files when nothing that they show changed', async () => {
    const { source, writer, nix, clock } = await setup()
    source.emit('sighting', sighting(advertisement(), clock.now()))
    await writer.flushed()
    const before = await stat(nix)
    source.emit('sighting', sighting(advertisement(), clock.now()))
    await writer.flushed()
    const after = await stat(nix)
    expect(after.ino).toBe(before.ino)
    expect(after.mtimeMs).toBe(before.mtimeMs)
  })

  it('removes a peer that said goodbye', async () => {
    const { source, writer, nix, clock } = await setup()
    source.emit('sighting', sighting(advertisement(), clock.now()))
    await writer.flushed()
    expect(await readFile(nix, 'utf8')).toContain('10.9.0.2')
    source.emit('gone', 'b1._buildmesh._tcp.local')
    await writer.flushed()
    expect(await readFile(nix, 'utf8')).toBe('')
  })
})
