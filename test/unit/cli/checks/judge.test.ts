import { describe, expect, it } from 'vitest'
import { formatBytes, judge, type CheckTarget, type StepResult } from '../../../../cli/checks/judge.ts'
import type { DaemonFacts, SshFacts } from '../../../../cli/checks/ssh-probe.ts'
import type { CopyFacts } from '../../../../cli/checks/store-copy.ts'
import { ED25519_KEY } from '../../../support/advertisements.ts'

const OTHER_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
const MiB = 1024 * 1024
const target: CheckTarget = { name: 'b1', host: '10.0.0.2', port: 22, user: 'nix', hostKey: ED25519_KEY, freeDiskBytes: 20 * 1024 * MiB }
const hello = { protocol: '1.34', nixVersion: '2.8.0' }
const daemonOk: DaemonFacts = { hello, failure: null, trusted: true, trustError: null }
const sshOk: SshFacts = { connectError: null, offeredKey: ED25519_KEY, loginError: null, loggedIn: true, daemon: daemonOk }
const copyOk: CopyFacts = { path: '/nix/store/aaaa-buildmesh-check', failedAt: null, error: null, missingCommand: false }
const options = { minFreeDiskBytes: 100 * MiB }

const daemonFailed = (failure: Partial<NonNullable<DaemonFacts['failure']>>): SshFacts =>
  ({ ...sshOk, daemon: { hello: null, trusted: null, trustError: null, failure: { reason: 'ended', message: 'the remote command ended the session', exitCode: 1, stderr: '', ...failure } } })

function verdict (steps: StepResult[]): string {
  return steps.map((s) => `${s.step}:${s.status}`).join(' ')
}

function failed (steps: StepResult[]): StepResult {
  const step = steps.find((s) => s.status === 'fail')
  if (step === undefined) throw new Error('no step failed')
  return step
}

describe('judge', () => {
  it('passes every step of a healthy builder, saying what it found', () => {
    const steps = judge(target, sshOk, copyOk, options)
    expect(steps.map((s) => [s.status, `${s.title}: ${s.detail}`])).toEqual([
      ['pass', 'SSH reachable: sshd answers at 10.0.0.2:22'],
      ['pass', expect.stringMatching(/^host key matches the pinned one: ssh-ed25519 SHA256:\S{43}$/)],
      ['pass', 'login with the master\'s key: logged in as nix'],
      ['pass', 'store daemon answers: Nix 2.8.0 daemon, protocol 1.34'],
      ['pass', 'SSH user trusted by the store: nix is a trusted user of the builder\'s store'],
      ['pass', 'store path copies there and back: /nix/store/aaaa-buildmesh-check went there and came back'],
      ['pass', 'free disk over the threshold: 20.0 GiB free on the builder\'s store (needs 100 MiB)']
    ])
    expect(steps.every((s) => s.advice === null)).toBe(true)
  })

  it.each<[string, SshFacts, CopyFacts | null, string, RegExp, RegExp]>([
    ['sshd stopped', { ...sshOk, connectError: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, offeredKey: null, loggedIn: false, daemon: null }, null,
      'reachable:fail host-key:skip login:skip daemon:skip trusted:skip copy:skip disk:pass',
      /^nothing listens on 10\.0\.0\.2:22 \(connection refused\)$/, /^Start sshd on the builder/],
    ['a host that is gone', { ...sshOk, connectError: { code: 'EHOSTUNREACH', message: 'x' }, offeredKey: null, loggedIn: false, daemon: null }, null,
      'reachable:fail host-key:skip login:skip daemon:skip trusted:skip copy:skip disk:pass', /^10\.0\.0\.2 is unreachable \(EHOSTUNREACH\)$/, /reach 10\.0\.0\.2:22\.$/],
    ['a host key that changed', { ...sshOk, offeredKey: OTHER_KEY, loggedIn: false, daemon: null }, null,
      'reachable:pass host-key:fail login:skip daemon:skip trusted:skip copy:skip disk:pass',
      /^sshd at 10\.0\.0\.2:22 offers SHA256:\S+, but the builder's agent reported SHA256:\S+$/, /restart its agent so that it reports the new one/],
    ['an sshd without a key of the pinned type', { ...sshOk, connectError: { code: 'ENOPINNEDKEYTYPE', message: 'Handshake failed: no matching host key format' }, offeredKey: null, loggedIn: false, daemon: null }, null,
      'reachable:pass host-key:fail login:skip daemon:skip trusted:skip copy:skip disk:pass',
      /^sshd at 10\.0\.0\.2:22 holds no ssh-ed25519 host key, which is the type the builder's agent reported$/, /--ssh-host-key at a public key sshd serves/],
    ['the master\'s key removed', { ...sshOk, loggedIn: false, loginError: 'All configured authentication methods failed', daemon: null }, null,
      'reachable:pass host-key:pass login:fail daemon:skip trusted:skip copy:skip disk:pass',
      /^sshd refused this master's key for nix \(All configured authentication methods failed\)$/, /AuthorizedKeysFile reads for nix\.$/],
    ['Nix not on the PATH', daemonFailed({ exitCode: 127, stderr: 'bash: line 1: nix-daemon: command not found\n' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass',
      /^nix-daemon is not on nix's PATH there: "bash: line 1: nix-daemon: command not found"$/, /^Put nix-daemon on the PATH that sshd gives nix's non-interactive sessions/],
    ['a line forcing nix-store --serve', daemonFailed({ exitCode: 1, stderr: 'error: protocol mismatch' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass',
      /^sshd runs another command than nix-daemon --stdio for this master's key: "error: protocol mismatch"$/, /^Widen this master's line in the builder's authorized_keys to restrict,command="nix-daemon --stdio"/],
    ['a forced command printing something else', daemonFailed({ reason: 'not-daemon', message: 'the remote command answered "hello", not the Nix daemon protocol' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass', /answered "hello"/, /^Widen this master's line/],
    ['a user without a shell', daemonFailed({ reason: 'not-daemon', message: 'the remote command answered "This account is currently not available.", not the Nix daemon protocol', stderr: 'Could not chdir to home directory /nonexistent' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass', /^nix has no login shell on the builder: the remote command answered "This account/, /^Give nix a login shell/],
    ['a stopped nix-daemon', daemonFailed({ stderr: 'error: cannot connect to socket at \'/nix/var/nix/daemon-socket/socket\': Connection refused' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass', /^nix cannot open the builder's store/, /^Start the builder's nix-daemon/],
    ['a daemon that hangs', daemonFailed({ reason: 'timeout', message: 'no answer in time' }), null,
      'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass', /^no answer from the store daemon in time$/, /nix-daemon/],
    ['an untrusted user', { ...sshOk, daemon: { ...daemonOk, trusted: false } }, copyOk,
      'reachable:pass host-key:pass login:pass daemon:pass trusted:fail copy:pass disk:pass',
      /^the builder's nix-daemon does not trust nix$/, /^Add nix to trusted-users in the builder's nix\.conf and restart its nix-daemon/],
    ['a signature refused on copy', sshOk, { ...copyOk, failedAt: 'to', error: 'error: cannot add path \'/nix/store/x\' because it lacks a valid signature' },
      'reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:fail disk:pass', /^copying \/nix\/store\/aaaa-buildmesh-check to the builder failed: error: cannot add path/, /^Add nix to trusted-users/],
    ['a full store on copy', sshOk, { ...copyOk, failedAt: 'to', error: 'error: writing to file: No space left on device' },
      'reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:fail disk:pass', /No space left on device$/, /^Free space on the builder's store/],
    ['no nix on the master', sshOk, { path: null, failedAt: 'add', error: 'spawn nix-store ENOENT', missingCommand: true },
      'reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:fail disk:pass', /^this master could not add a file to its own store: spawn nix-store ENOENT$/, /^Install Nix on this master/]
  ])('%s', (_, ssh, copy, steps, detail, advice) => {
    const result = judge(target, ssh, copy, options)
    expect(verdict(result)).toBe(steps)
    const step = failed(result)
    expect(step.detail).toMatch(detail)
    expect(step.advice).toMatch(advice)
    // One sentence: a capital, one full stop, at the end.
    expect(step.advice).toMatch(/^[A-Z][^.]*(\.[^ .][^.]*)*\.$/)
  })

  it('fails free disk under the threshold, whatever SSH did', () => {
    const steps = judge({ ...target, freeDiskBytes: 40 * MiB }, sshOk, copyOk, options)
    expect(verdict(steps)).toBe('reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:pass disk:fail')
    expect(failed(steps)).toMatchObject({ detail: 'only 40 MiB free on the builder\'s store (needs 100 MiB)' })
  })

  it('asks for a host key when the builder reported none', () => {
    const steps = judge({ ...target, hostKey: null }, { ...sshOk, loggedIn: false, daemon: null }, null, options)
    expect(verdict(steps)).toBe('reachable:pass host-key:fail login:skip daemon:skip trusted:skip copy:skip disk:pass')
    expect(failed(steps).advice).toMatch(/--ssh-host-key/)
  })

  it('names the failure a skipped step waited on', () => {
    const steps = judge(target, { ...sshOk, offeredKey: OTHER_KEY, loggedIn: false, daemon: null }, null, options)
    expect(steps[2]).toEqual({ step: 'login', title: 'login with the master\'s key', status: 'skip', detail: 'not tried, since "host key matches the pinned one" failed', advice: null })
  })

  it('writes sizes as people read them', () => {
    expect([formatBytes(23 * MiB + 5), formatBytes(1024 * MiB), formatBytes(84_900_184_064)]).toEqual(['23 MiB', '1.0 GiB', '79.1 GiB'])
  })
})
