import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { rootsFile, RunRoots } from '../../../../cli/build-hook/run-roots.ts'

const drv = (n: number): string => `/nix/store/${String(n).padStart(32, '0')}-job-${n}.drv`

describe('the run\'s roots, as the hook sends them', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'roots-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('tells a new hook\'s first request the size only, then sends what the agent lacks, whole entries only', async () => {
    const file = join(dir, '4242')
    const out = '/nix/store/00000000000000000000000000000009-job-9'
    // Nix writes each root with a NUL after it; an output path is no derivation.
    await writeFile(file, `${drv(1)}\0${out}\0${drv(2)}\0`)
    const size = Buffer.byteLength(`${drv(1)}\0${out}\0${drv(2)}\0`)
    const roots = new RunRoots(rootsFile(file))
    const first = roots.next()
    expect(first).toMatchObject({ size, from: size, to: size, paths: [] })
    expect(first?.file).toMatch(/^\d+:\d+$/)
    roots.heldByAgent(0)
    expect(roots.next()).toMatchObject({ size, from: 0, to: size, paths: [drv(1), drv(2)] })
    roots.heldByAgent(size)
    // All of it held: nothing more to send.
    expect(roots.next()).toBeUndefined()
    // Half a root written: it waits for its NUL.
    await appendFile(file, `${drv(3)}\0${drv(4).slice(0, 20)}`)
    expect(roots.next()).toMatchObject({ from: size, to: size + drv(3).length + 1, paths: [drv(3)] })
    roots.heldByAgent('lots')
    expect(roots.next()).toMatchObject({ from: size, paths: [drv(3)] })
  })

  it('sends nothing where the file cannot be read, and does not try again', async () => {
    const roots = new RunRoots(rootsFile(join(dir, 'none')))
    expect(roots.next()).toBeUndefined()
    await writeFile(join(dir, 'none'), `${drv(1)}\0`)
    expect(roots.next()).toBeUndefined()
  })
})
