import { describe, expect, it } from 'vitest'
import { HostNames, systemLookup, type LookupAddresses } from '../../../scheduler/host-names.ts'
import { ManualClock } from '../../support/manual-clock.ts'

/** A resolver that answers from a table, or never, and counts what it was asked. */
function resolver (table: Record<string, string[] | 'hang' | 'fail'>): { lookup: LookupAddresses, asked: string[] } {
  const asked: string[] = []
  const lookup: LookupAddresses = async (name) => {
    asked.push(name)
    const answer = table[name]
    if (answer === 'hang') return await new Promise<string[]>(() => {})
    if (answer === 'fail' || answer === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), { code: 'ENOTFOUND' })
    return answer
  }
  return { lookup, asked }
}

describe('HostNames', () => {
  it('resolves each name once a minute at most, and an address is itself', async () => {
    const clock = new ManualClock()
    const { lookup, asked } = resolver({ 'ruby.lan': ['10.9.0.2'], gone: 'fail' })
    const names = new HostNames({ clock, lookup })
    expect(await names.addresses(['ruby.lan', 'gone', '10.9.0.3', 'ruby.lan'])).toEqual(new Map([['ruby.lan', ['10.9.0.2']], ['gone', []]]))
    clock.advance(59_000)
    await names.addresses(['ruby.lan', 'gone'])
    expect(asked).toEqual(['ruby.lan', 'gone'])
    clock.advance(1000)
    // Stale: looked up again, the old answer serving meanwhile.
    expect(await names.addresses(['ruby.lan'])).toEqual(new Map([['ruby.lan', ['10.9.0.2']]]))
    expect(asked).toEqual(['ruby.lan', 'gone', 'ruby.lan'])
  })

  it('answers without a name whose lookup does not end within the first wait', async () => {
    const clock = new ManualClock()
    const { lookup } = resolver({ slow: 'hang', 'ruby.lan': ['10.9.0.2'] })
    const names = new HostNames({ clock, lookup }, { firstWaitMs: 200 })
    const answer = names.addresses(['slow', 'ruby.lan'])
    await Promise.resolve()
    clock.advance(200)
    expect(await answer).toEqual(new Map([['slow', []], ['ruby.lan', ['10.9.0.2']]]))
  })

  it('keeps a bounded number of names', async () => {
    const clock = new ManualClock()
    const { lookup, asked } = resolver({ a: ['10.0.0.1'], b: ['10.0.0.2'], c: ['10.0.0.3'] })
    const names = new HostNames({ clock, lookup }, { maxNames: 2 })
    await names.addresses(['a', 'b', 'c'])
    await names.addresses(['c'])
    await names.addresses(['a'])
    expect(asked).toEqual(['a', 'b', 'c', 'a'])
  })

  it('resolves as ssh does, through the system\'s resolver', async () => {
    expect((await systemLookup('localhost')).some((a) => a === '127.0.0.1' || a === '::1')).toBe(true)
  })
})
