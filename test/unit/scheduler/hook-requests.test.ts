import { describe, expect, it } from 'vitest'
import { parseBuilderSelection, parseDecideRequest, parseReleaseRequest } from '../../../scheduler/hook-requests.ts'

const drv = '/nix/store/00000000000000000000000000000000-hello-2.12.drv'
const decide = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ system: 'x86_64-linux', requiredFeatures: ['kvm'], amWilling: true, drvPath: drv, ...over })

describe('the requests the agent takes over its control socket', () => {
  it('reads a decide request, with the defaults of a hook that says less', () => {
    expect(parseDecideRequest(decide())).toEqual({ amWilling: true, drvPath: drv, system: 'x86_64-linux', requiredFeatures: ['kvm'], served: [], remoteOnly: false, forecast: false })
    expect(parseDecideRequest(decide({ maxJobs: 2, nixRun: 4242, hookPid: 4243, pollSeconds: 1, served: [drv], servedAt: 1000, allowedHosts: ['10.0.0.2'], outsideHosts: ['static.lan'], remoteOnly: true, forecast: true }))).toEqual({
      amWilling: true, drvPath: drv, system: 'x86_64-linux', requiredFeatures: ['kvm'], maxJobs: 2, nixRun: 4242, hookPid: 4243, pollSeconds: 1, served: [drv], servedAt: 1000, allowedHosts: ['10.0.0.2'], outsideHosts: ['static.lan'], remoteOnly: true, forecast: true
    })
  })

  it('reads what the run\'s ssh connects to for the hosts the request names', () => {
    expect(parseDecideRequest(decide({ allowedHosts: ['kana'], outsideHosts: ['ruby'], sshHostNames: { kana: '10.0.0.2', ruby: 'ruby.lan' } })).sshHostNames)
      .toEqual(new Map([['kana', '10.0.0.2'], ['ruby', 'ruby.lan']]))
  })

  it.each([
    ['sshHostNames', { allowedHosts: ['kana'], sshHostNames: { other: '10.0.0.2' } }],
    ['sshHostNames', { allowedHosts: ['kana'], sshHostNames: { kana: 'a b' } }],
    ['sshHostNames', { allowedHosts: ['kana'], sshHostNames: { kana: 7 } }],
    ['sshHostNames', { allowedHosts: ['kana'], sshHostNames: ['kana'] }]
  ])('refuses a decide request with bad %s', (_, over) => {
    expect(() => parseDecideRequest(decide(over))).toThrow('sshHostNames must map hosts of allowedHosts or outsideHosts to host names')
  })

  it.each([
    ['amWilling', { amWilling: 1 }, /amWilling must be true or false/],
    ['drvPath', { drvPath: '/etc/passwd' }, /drvPath must be a derivation path/],
    ['maxJobs', { maxJobs: 1.5 }, /maxJobs must be a whole number/],
    ['served', { served: ['/tmp/x.drv'] }, /served must be derivation paths/],
    ['servedAt', { servedAt: '1000' }, /servedAt must be a time/],
    ['remoteOnly', { remoteOnly: 'yes' }, /remoteOnly must be true or false/],
    ['allowedHosts', { allowedHosts: 'b1' }, /allowedHosts must be a list/],
    ['outsideHosts', { outsideHosts: Array(257).fill('b1') }, /outsideHosts must be a list of at most 256 strings/],
    ['system', { system: 'x86_64-linux\nevil' }, /system/],
    ['nixRun', { nixRun: -1 }, /nixRun must be a process id/],
    ['hookPid', { hookPid: '12' }, /hookPid must be a process id/],
    ['pollSeconds', { pollSeconds: 0 }, /pollSeconds must be a whole number of seconds from 1 to 3600/],
    ['pollSeconds', { pollSeconds: 0.5 }, /pollSeconds must be a whole number of seconds from 1 to 3600/]
  ])('refuses a decide request with a bad %s', (_, over, message) => {
    expect(() => parseDecideRequest(decide(over))).toThrow(message)
  })

  it('reads a release, a hook\'s from before outcomes as built, and refuses anything else', () => {
    expect(parseReleaseRequest({ reservation: 'r-1', outcome: 'declined' })).toEqual({ reservation: 'r-1', outcome: 'declined' })
    expect(parseReleaseRequest({ reservation: 'r-1' })).toEqual({ reservation: 'r-1', outcome: 'built' })
    expect(() => parseReleaseRequest({ reservation: 'r'.repeat(65) })).toThrow(/reservation must be a reservation id/)
    expect(() => parseReleaseRequest({ reservation: 'r-1', outcome: 'lost' })).toThrow('outcome must be one of built, failed, declined')
  })

  it('reads a builder selection', () => {
    expect(parseBuilderSelection({ only: ['ruby'], system: 'aarch64-linux', features: ['kvm'] })).toEqual({ only: ['ruby'], system: 'aarch64-linux', features: ['kvm'] })
    expect(parseBuilderSelection(null)).toEqual({})
    expect(() => parseBuilderSelection({ exclude: [1] })).toThrow(/exclude must be a list of at most 256 strings/)
  })
})
