import { afterAll, beforeAll, beforeEach } from 'vitest'
import { createLan } from './lan.ts'
import type { Lan, LanOptions } from './lan.ts'
import { formatLanLogs } from './report.ts'

export interface UseLanOptions extends LanOptions {
  /**
   * 'suite' (default): one LAN for every test of the enclosing describe (or file), built in
   * beforeAll and closed in afterAll. 'test': a fresh LAN per test, closed when the test ends.
   */
  per?: 'suite' | 'test'
}

/**
 * Registers the hooks that build and tear down a LAN, and returns a handle that stands for it
 * inside tests and later hooks. When a test fails, every host's process logs are printed into
 * that test's output.
 */
export function useLan (options: UseLanOptions): Lan {
  const { per = 'suite', ...lanOptions } = options
  let current: Lan | undefined
  const printLogs = (lan: Lan): void => {
    console.error(formatLanLogs(lan))
  }

  if (per === 'suite') {
    beforeAll(async () => {
      current = await createLan(lanOptions)
    })
    beforeEach(({ onTestFailed }) => {
      onTestFailed(() => { if (current !== undefined) printLogs(current) })
    })
    afterAll(async () => {
      const lan = current
      current = undefined
      await lan?.close()
    })
  } else {
    beforeEach(async ({ onTestFinished }) => {
      const lan = await createLan(lanOptions)
      current = lan
      onTestFinished(async ({ task }) => {
        if (task.result?.state === 'fail') printLogs(lan)
        current = undefined
        await lan.close()
      })
    })
  }

  // A proxy, because the LAN is only built once the hooks run, after this returns.
  return new Proxy({} as Lan, {
    get: (_target, key) => {
      if (current === undefined) {
        throw new Error('useLan(): the LAN exists only inside tests and the hooks that follow useLan()')
      }
      const value: unknown = Reflect.get(current, key, current)
      return typeof value === 'function' ? value.bind(current) : value
    }
  })
}
