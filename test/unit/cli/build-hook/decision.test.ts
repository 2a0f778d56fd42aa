import { describe, expect, it } from 'vitest'
import type { BuilderScope } from '../../../../cli/build-hook/builders.ts'
import { decideParams, planFromAnswer } from '../../../../cli/build-hook/decision.ts'

const line = 'ssh-ng://root@10.77.0.2 x86_64-linux /k 2 1 - - AAAA'
const agent: BuilderScope = { kind: 'agent', outside: [] }
const listed: BuilderScope = { kind: 'hosts', hosts: ['10.77.0.2', '10.77.0.3'], lines: [line, line.replace('10.77.0.2', '10.77.0.3')] }
const besides: BuilderScope = { kind: 'agent', outside: ['ssh://static.lan aarch64-linux', 'ssh://static.lan x86_64-linux', 'http://cache x86_64-linux'] }
const WAITER = '/nix/store/00000000000000000000000000000002-waiter.drv'
const request = { amWilling: false, system: 'x86_64-linux', drvPath: '/nix/store/abc-j.drv', requiredFeatures: ['kvm'] }

describe('the agent\'s decision', () => {
  it('asks with the request, and with allowed hosts only when the builders setting lists them', () => {
    expect(decideParams(request, agent, undefined)).toEqual({ system: 'x86_64-linux', requiredFeatures: ['kvm'], amWilling: false, drvPath: '/nix/store/abc-j.drv', forecast: true })
    expect(decideParams(request, listed, undefined)).toEqual({ ...decideParams(request, agent, undefined), allowedHosts: ['10.77.0.2', '10.77.0.3'] })
    expect(decideParams(request, agent, 3)).toEqual({ ...decideParams(request, agent, undefined), maxJobs: 3 })
    expect(decideParams(request, agent, undefined, undefined, { nixRun: 4242 })).toEqual({ ...decideParams(request, agent, undefined), nixRun: 4242 })
    // Beside the agent's own file: the hosts of the other machines, for the agent to say which the mesh does not know.
    expect(decideParams(request, besides, undefined)).toEqual({ ...decideParams(request, agent, undefined), outsideHosts: ['static.lan'] })
  })

  it('takes the hosts the mesh does not know, only among those it named', () => {
    expect(planFromAnswer({ kind: 'impossible', strangers: ['static.lan'] }, besides)).toMatchObject({ decided: 'impossible', strangers: ['static.lan'] })
    expect(planFromAnswer({ kind: 'postpone', strangers: ['10.77.0.3'] }, listed)).toMatchObject({ decided: 'postpone', strangers: ['10.77.0.3'] })
    expect(() => planFromAnswer({ kind: 'impossible', strangers: ['6.6.6.6'] }, listed)).toThrow(/strangers holds a host the hook did not name/)
    expect(() => planFromAnswer({ kind: 'impossible', strangers: 'static.lan' }, besides)).toThrow(/strangers holds a host the hook did not name/)
  })

  it('reports the builds it told to keep waiting itself, when there are any', () => {
    expect(decideParams(request, agent, undefined, { drvPaths: [WAITER], answeredAt: 1234 })).toEqual({ ...decideParams(request, agent, undefined), served: [WAITER], servedAt: 1234 })
    expect(decideParams(request, agent, undefined, { drvPaths: [], answeredAt: 1234 })).not.toHaveProperty('served')
  })

  it('takes the agent\'s answers ahead with a decline or a postpone', () => {
    expect(planFromAnswer({ kind: 'local', declines: [WAITER], at: 1234 }, agent)).toEqual({ kind: 'answer', reply: 'decline', decided: 'local', declines: [WAITER], at: 1234, strangers: [] })
    expect(planFromAnswer({ kind: 'postpone', declines: [WAITER] }, agent)).toMatchObject({ declines: [WAITER] })
  })

  it.each([
    [{ kind: 'local' }, { kind: 'answer', reply: 'decline', decided: 'local', declines: [], at: undefined, strangers: [] }],
    [{ kind: 'impossible' }, { kind: 'answer', reply: 'decline', decided: 'impossible', declines: [], at: undefined, strangers: [] }],
    [{ kind: 'postpone' }, { kind: 'answer', reply: 'postpone', decided: 'postpone', declines: [], at: undefined, strangers: [] }],
    [{ kind: 'remote', host: '10.77.0.2', nixLine: line, reservation: 'r-1' }, { kind: 'remote', host: '10.77.0.2', nixLine: line, reservation: 'r-1' }],
    [{ kind: 'remote', nixLine: line }, { kind: 'remote', host: '10.77.0.2', nixLine: line, reservation: undefined }]
  ])('%j becomes %j', (answer, plan) => {
    expect(planFromAnswer(answer, listed)).toEqual(plan)
  })

  it.each([
    [null, /not an object/],
    [{ kind: 'elsewhere' }, /unknown kind "elsewhere"/],
    [{ kind: 'remote' }, /remote without a machine line/],
    [{ kind: 'remote', nixLine: `${line}\nssh-ng://root@6.6.6.6 x86_64-linux` }, /line break, ; or #/],
    [{ kind: 'remote', nixLine: `${line};ssh-ng://root@6.6.6.6` }, /line break, ; or #/],
    [{ kind: 'remote', nixLine: 'http://cache x86_64-linux' }, /not an SSH store/],
    [{ kind: 'remote', host: '10.77.0.3', nixLine: line }, /host 10.77.0.3 is not the machine line's 10.77.0.2/],
    [{ kind: 'remote', nixLine: line.replace('10.77.0.2', '10.77.0.9') }, /10.77.0.9 is not among the builders Nix allows/],
    [{ kind: 'remote', nixLine: line, reservation: 7 }, /bad reservation id/],
    [{ kind: 'local', declines: WAITER }, /declines is not a list/],
    [{ kind: 'local', declines: ['/etc/passwd'] }, /other than a derivation path/],
    [{ kind: 'postpone', declines: [WAITER, 7] }, /other than a derivation path/],
    [{ kind: 'local', declines: [WAITER], at: 'now' }, /at is not a time/]
  ])('refuses %j', (answer, why) => {
    expect(() => planFromAnswer(answer, listed)).toThrow(why)
  })

  it('refuses more answers ahead than a request can report back', () => {
    expect(() => planFromAnswer({ kind: 'local', declines: Array(1025).fill(WAITER) }, agent)).toThrow(/declines is not a list/)
  })

  it('takes a member by address for an allowed host the setting names otherwise, and only for an allowed one', () => {
    const named: BuilderScope = { kind: 'hosts', hosts: ['kana'], lines: ['ssh-ng://root@kana x86_64-linux /k 2 1 - - -'] }
    expect(planFromAnswer({ kind: 'remote', host: '10.77.0.2', listedAs: 'kana', nixLine: line }, named)).toEqual({ kind: 'remote', host: '10.77.0.2', nixLine: line, reservation: undefined })
    expect(() => planFromAnswer({ kind: 'remote', host: '10.77.0.2', nixLine: line }, named)).toThrow(/10.77.0.2 is not among the builders Nix allows/)
    expect(() => planFromAnswer({ kind: 'remote', host: '10.77.0.2', listedAs: 'ruby', nixLine: line }, named)).toThrow(/ruby is not among the builders Nix allows/)
    expect(() => planFromAnswer({ kind: 'remote', listedAs: ['kana'], nixLine: line }, named)).toThrow(/kana is not among the builders Nix allows/)
  })

  it('tells the agent what ssh connects to for hosts it knows by another name, when there are any', () => {
    expect(decideParams(request, listed, undefined, undefined, { destinations: { kana: '10.77.0.2' } })).toEqual({ ...decideParams(request, listed, undefined), sshHostNames: { kana: '10.77.0.2' } })
    expect(decideParams(request, listed, undefined, undefined, { destinations: {} })).not.toHaveProperty('sshHostNames')
  })

  it('takes any host when the choice is the agent\'s', () => {
    expect(planFromAnswer({ kind: 'remote', nixLine: line.replace('10.77.0.2', '10.77.0.9') }, agent)).toMatchObject({ host: '10.77.0.9' })
  })
})
