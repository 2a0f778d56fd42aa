import { describe, expect, it } from 'vitest'
import type { MdnsPacket } from '../../../common/mdns.ts'
import { instancesIn } from '../../../scheduler/mdns-answers.ts'

const SERVICE = '_buildmesh._tcp.local'
const txt = [Buffer.from('v=1'), Buffer.from('sys=x86_64-linux')]

function packet (answers: unknown[], additionals: unknown[] = []): MdnsPacket {
  return { answers, additionals } as MdnsPacket
}

const announcement = (name = 'B1', ttl = 120): MdnsPacket => packet([
  { type: 'PTR', name: SERVICE, ttl: 4500, data: `${name}.${SERVICE}` }
], [
  { type: 'SRV', name: `${name}.${SERVICE}`, ttl, data: { port: 22, target: 'b1.local' } },
  { type: 'TXT', name: `${name}.${SERVICE}`, ttl: 4500, data: txt },
  { type: 'A', name: 'b1.local', ttl: 120, data: '10.0.0.2' },
  { type: 'A', name: 'other.local', ttl: 120, data: '10.0.0.9' }
])

describe('instancesIn', () => {
  it('reads an announcement: name as sent, TXT, and only the SRV target\'s addresses', () => {
    expect(instancesIn(announcement(), SERVICE)).toEqual([{
      fqdn: `b1.${SERVICE}`, instanceName: 'B1', goodbye: false, rawTxt: txt, addresses: ['10.0.0.2']
    }])
  })

  it('reads goodbyes from a PTR or an SRV with TTL 0', () => {
    expect(instancesIn(packet([{ type: 'PTR', name: SERVICE, ttl: 0, data: `b1.${SERVICE}` }]), SERVICE)[0]?.goodbye).toBe(true)
    expect(instancesIn(announcement('b1', 0), SERVICE)[0]?.goodbye).toBe(true)
  })

  it('ignores other service types and keeps the first TXT of a repeated name', () => {
    const found = instancesIn(packet([
      { type: 'SRV', name: 'x._other._tcp.local', ttl: 120, data: { port: 1, target: 'x.local' } },
      { type: 'TXT', name: `b1.${SERVICE}`, ttl: 120, data: txt },
      { type: 'TXT', name: `b1.${SERVICE}`, ttl: 120, data: [Buffer.from('v=9')] }
    ]), SERVICE)
    expect(found.map((f) => [f.fqdn, f.rawTxt])).toEqual([[`b1.${SERVICE}`, txt]])
  })

  it.each([
    ['not arrays', { answers: 'x', additionals: null }],
    ['records of the wrong shape', packet([null, 42, { type: 'SRV' }, { type: 'SRV', name: `b1.${SERVICE}`, ttl: 1, data: null }, { type: 'TXT', name: `b1.${SERVICE}`, data: 'text' }, { type: 'PTR', name: SERVICE, data: { evil: true } }])],
    ['a bare service name', packet([{ type: 'SRV', name: SERVICE, ttl: 1, data: { target: 'x' } }])],
    ['non-string addresses', packet([{ type: 'SRV', name: `b1.${SERVICE}`, ttl: 1, data: { target: 'b1.local' } }, { type: 'A', name: 'b1.local', data: { ip: 1 } }])]
  ])('survives %s', (_, hostile) => {
    expect(() => instancesIn(hostile as unknown as MdnsPacket, SERVICE)).not.toThrow()
  })
})
