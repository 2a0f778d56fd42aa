import { describe, expect, it } from 'vitest'
import { chooseStorePath, probeLiveStatus } from '../../../../agent/probe/live-status.ts'
import { fakeMachine, warnings } from './fakes.ts'

describe('probeLiveStatus', () => {
  it.each([
    [[0, 0, 0], 4, 0],
    [[1, 9, 9], 4, 0.25],
    [[2, 0, 0], 3, 0.67],
    [[12.5, 0, 0], 4, 1],
    [[-1, 0, 0], 4, 0],
    [[0.5, 0, 0], 0, 0.5]
  ])('loadavg %j on %i cores -> load %d', async (loadavg, cores, load) => {
    const { deps } = fakeMachine({ loadavg, statfs: { '/': { bavail: 1, bsize: 1 } } })
    expect((await probeLiveStatus(deps, { cores, storePath: '/' })).load).toBe(load)
  })

  it('measures free bytes (bavail * bsize) on the store path', async () => {
    const { deps } = fakeMachine({ statfs: { '/nix/store': { bavail: 1000, bsize: 4096 }, '/': { bavail: 1, bsize: 1 } } })
    expect(await probeLiveStatus(deps, { cores: 2, storePath: '/nix/store' })).toEqual({ load: 0, freeDiskBytes: 4_096_000 })
  })

  it('reports 0 free bytes with a warning when statfs fails', async () => {
    const { deps, logs } = fakeMachine()
    expect((await probeLiveStatus(deps, { cores: 2, storePath: '/nix/store' })).freeDiskBytes).toBe(0)
    expect(warnings(logs)).toEqual(['cannot measure free disk space'])
  })
})

describe('chooseStorePath', () => {
  it.each([
    [['/nix/store', '/gnu/store'], '/nix/store'],
    [['/gnu/store'], '/gnu/store'],
    [['/nix/var'], '/'],
    [[], '/']
  ])('with %j -> %s', async (paths, storePath) => {
    const { deps } = fakeMachine({ paths })
    expect(await chooseStorePath(deps)).toBe(storePath)
  })
})
