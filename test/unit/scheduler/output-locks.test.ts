import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { lockedInodes, outputLocks } from '../../../scheduler/output-locks.ts'

describe('lockedInodes', () => {
  it('reads the inodes the kernel shows locked, and not those a process waits to lock', () => {
    const table = [
      '1: FLOCK  ADVISORY  WRITE 11537 fe:00:2146834 0 EOF',
      '1: -> FLOCK  ADVISORY  WRITE 11540 fe:00:2146834 0 EOF',
      '2: POSIX  ADVISORY  READ 920 00:1a:77 0 EOF',
      '3: -> POSIX  ADVISORY  WRITE 921 00:1a:88 0 EOF',
      ''
    ].join('\n')
    expect([...lockedInodes(table)].sort((a, b) => a - b)).toEqual([77, 2146834])
  })
})

describe('outputLocks', () => {
  it('says for each build whether any lock file of its outputs is held; none there is none held', async () => {
    const inodes = new Map([['/nix/store/a-out.lock', 10], ['/nix/store/b-out.lock', 20]])
    let reads = 0
    const readLocks = (): string => { reads++; return '1: FLOCK  ADVISORY  WRITE 1 fe:00:20 0 EOF\n' }
    const locked = outputLocks({ readLocks, inodeOf: (p) => inodes.get(p) ?? null })
    expect(await locked([['/nix/store/a-out', '/nix/store/b-out'], ['/nix/store/a-out'], ['/nix/store/c-out']])).toEqual([true, false, false])
    // One read of the kernel's table for all the builds; none where no lock file is there.
    expect(reads).toBe(1)
    await locked([['/nix/store/c-out']])
    expect(reads).toBe(1)
    const unreadable = outputLocks({ readLocks: () => { throw new Error('EACCES') }, inodeOf: () => 10 })
    expect(await unreadable([['/nix/store/a-out']])).toEqual([null])
    // A lock file it may not look at may be held.
    const hidden = outputLocks({ readLocks: () => '', inodeOf: () => { throw Object.assign(new Error('EACCES'), { code: 'EACCES' }) } })
    expect(await hidden([['/nix/store/a-out']])).toEqual([true])
  })

  describe('with the kernel\'s own lock table', () => {
    let dir = ''
    const holders: Array<ReturnType<typeof spawn>> = []
    afterEach(async () => {
      for (const h of holders.splice(0)) h.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    })

    it('sees the flock Nix takes on an output\'s lock file, and sees it let go', async () => {
      dir = await mkdtemp(join(tmpdir(), 'buildmesh-locks-'))
      const out = join(dir, 'x-out')
      await writeFile(`${out}.lock`, '')
      const locked = outputLocks()
      expect(await locked([[out]])).toEqual([false])
      // flock(1) takes the same lock as Nix's lockFile(): flock(2), exclusive; --no-fork leaves
      // one process, sleep, holding it.
      const holder = spawn('flock', ['--exclusive', '--no-fork', `${out}.lock`, 'sleep', '30'], { stdio: 'ignore' })
      holders.push(holder)
      const deadline = Date.now() + 3000
      while ((await locked([[out]]))[0] !== true && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
      expect(await locked([[out]])).toEqual([true])
      holder.kill('SIGKILL')
      await new Promise((resolve) => holder.once('exit', resolve))
      expect((await stat(`${out}.lock`)).isFile()).toBe(true)
      expect(await locked([[out]])).toEqual([false])
    })
  })
})
