import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BuildHistory } from '../../../scheduler/build-history.ts'
import { BuildHistoryFile } from '../../../scheduler/build-history-file.ts'
import { ManualClock } from '../../support/manual-clock.ts'

const log = pino({ level: 'silent' })

describe('BuildHistoryFile', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'buildmesh-history-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keeps what a master learned across a restart, in a file only the agent reads', async () => {
    const path = join(dir, 'build-history.json')
    const first = new BuildHistory()
    const file = new BuildHistoryFile({ history: first, clock: new ManualClock(), log }, { path })
    await file.start()
    first.record('gcc-13.2.0', 1200, true)
    first.record('hello-2.12', 3)
    await file.stop()
    expect((await stat(path)).mode & 0o777).toBe(0o600)

    const second = new BuildHistory()
    await new BuildHistoryFile({ history: second, clock: new ManualClock(), log }, { path }).start()
    expect(second.expected('gcc-13.2.0')).toBe(1200)
    expect(second.typicalBigParallel()).toBe(1200)
  })

  it('saves on its interval only when something changed', async () => {
    const path = join(dir, 'build-history.json')
    const clock = new ManualClock()
    const history = new BuildHistory()
    const file = new BuildHistoryFile({ history, clock, log }, { path, saveEveryMs: 1000 })
    await file.start()
    clock.advance(1000)
    await new Promise((resolve) => setImmediate(resolve))
    await expect(readFile(path)).rejects.toThrow()
    history.record('hello-2.12', 3)
    clock.advance(1000)
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual([['hello-2.12', 3]])
    await file.stop()
  })

  it('starts afresh from a damaged file, keeping only well-formed entries', async () => {
    const path = join(dir, 'build-history.json')
    // An entry without its third field is from before it: an ordinary build.
    await writeFile(path, JSON.stringify([['ok-1', 5], ['bad name', 1], ['neg', -3], 'x', ['nan', 'x'], ['big-1', 900, true], ['odd-1', 7, 'yes']]))
    const history = new BuildHistory()
    await new BuildHistoryFile({ history, clock: new ManualClock(), log }, { path }).start()
    expect(history.entries()).toEqual([['ok-1', 5, false], ['big-1', 900, true], ['odd-1', 7, false]])
    await writeFile(path, '{not json')
    await expect(new BuildHistoryFile({ history: new BuildHistory(), clock: new ManualClock(), log }, { path }).start()).resolves.toBeUndefined()
  })
})
