import { describe, expect, it } from 'vitest'
import { checkBuilders, checkTarget, type CheckDeps } from '../../../../cli/checks/check-builder.ts'
import type { CheckTarget } from '../../../../cli/checks/judge.ts'
import type { SshFacts } from '../../../../cli/checks/ssh-probe.ts'
import type { CopyFacts } from '../../../../cli/checks/store-copy.ts'
import type { PeerView } from '../../../../scheduler/peer.ts'
import { ED25519_KEY } from '../../../support/advertisements.ts'

const target = (name: string, over: Partial<CheckTarget> = {}): CheckTarget =>
  ({ name, host: '10.0.0.2', port: 22, user: 'root', hostKey: ED25519_KEY, freeDiskBytes: 2 ** 40, ...over })
const healthy: SshFacts = {
  connectError: null, offeredKey: ED25519_KEY, loginError: null, loggedIn: true,
  daemon: { hello: { protocol: '1.34', nixVersion: '2.8.0' }, failure: null, trusted: true, trustError: null }
}
const copied: CopyFacts = { path: '/nix/store/x-buildmesh-check', failedAt: null, error: null, missingCommand: false }
const options = { privateKey: Buffer.from('key'), timeoutMs: 2000, minFreeDiskBytes: 100 * 1024 * 1024 }

describe('checkBuilders', () => {
  it('checks every builder at once, copies only through a daemon that answered, and sorts by name', async () => {
    const copies: string[] = []
    const signals: AbortSignal[] = []
    let inFlight = 0
    let mostInFlight = 0
    const deps: CheckDeps = {
      probeSsh: async (t, key, signal) => {
        expect(key.toString()).toBe('key')
        signals.push(signal)
        mostInFlight = Math.max(mostInFlight, ++inFlight)
        await new Promise((resolve) => setTimeout(resolve, 20))
        inFlight--
        return t.host === '10.0.0.9' ? { ...healthy, connectError: { code: 'ECONNREFUSED', message: 'refused' }, offeredKey: null, loggedIn: false, daemon: null } : healthy
      },
      copyRoundTrip: async (t) => { copies.push(t.host); return copied }
    }
    const checks = await checkBuilders([target('zeta'), target('alpha', { host: '10.0.0.9' })], deps, options)
    expect(mostInFlight).toBe(2)
    expect(checks.map((c) => [c.name, c.passed, c.steps.filter((s) => s.status === 'pass').length])).toEqual([['alpha', false, 1], ['zeta', true, 7]])
    expect(copies).toEqual(['10.0.0.2'])
    expect(signals.every((s) => !s.aborted)).toBe(true)
  })

  it('gives each builder a deadline that ends its checks', async () => {
    let seen: AbortSignal | undefined
    const deps: CheckDeps = {
      probeSsh: async (_t, _k, signal) => {
        seen = signal
        await new Promise((resolve) => signal.addEventListener('abort', resolve))
        return { ...healthy, connectError: { code: 'ETIMEDOUT', message: 'no answer in time' }, offeredKey: null, loggedIn: false, daemon: null }
      },
      copyRoundTrip: async () => copied
    }
    const [check] = await checkBuilders([target('slow')], deps, { ...options, timeoutMs: 100 })
    expect(seen?.aborted).toBe(true)
    expect(check?.steps[0]).toMatchObject({ status: 'fail', detail: 'no answer from 10.0.0.2:22 in time' })
  })
})

describe('checkTarget', () => {
  const view = { name: 'b1', addresses: ['fe80::1%eth0', '10.0.0.2'], sshUser: 'nix', sshPort: 2222, hostKey: ED25519_KEY, freeDiskBytes: 5 } as PeerView
  it('logs in where the lists would: IPv4 first, the reported user, port and host key', () => {
    expect(checkTarget(view)).toEqual({ name: 'b1', host: '10.0.0.2', port: 2222, user: 'nix', hostKey: ED25519_KEY, freeDiskBytes: 5 })
  })

  it('has nothing to log in to without a valid advertisement', () => {
    expect(checkTarget({ ...view, sshUser: null })).toBeNull()
    expect(checkTarget({ ...view, addresses: [] })).toBeNull()
  })
})
