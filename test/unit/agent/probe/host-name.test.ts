import { describe, expect, it } from 'vitest'
import { toDnsLabel } from '../../../../agent/probe/host-name.ts'

describe('toDnsLabel', () => {
  it.each([
    ['vm', 'vm'],
    ['Build-01.lan.example.org', 'build-01'],
    ['my_host', 'my-host'],
    ['héllo wörld', 'h-llo-w-rld'],
    ['-edge-', 'edge'],
    ['xn--bcher-kva.example', 'xn--bcher-kva'],
    ['a'.repeat(70), 'a'.repeat(63)],
    [`${'a'.repeat(62)}_b`, 'a'.repeat(62)],
    ['', 'host'],
    ['___', 'host']
  ])('%j -> %j', (hostName, label) => {
    expect(toDnsLabel(hostName)).toBe(label)
    expect(label).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
  })
})
