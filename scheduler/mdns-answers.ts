import type { MdnsPacket, ServiceRecord } from '../common/mdns.ts'

/** One service instance as one response packet describes it. */
export interface InstanceAnswer {
  /** The instance's full name, lower case: `b1._buildmesh._tcp.local`. */
  fqdn: string
  /** The instance label as sent (display only: it is unvalidated). */
  instanceName: string
  /** The packet said goodbye for it (TTL 0). */
  goodbye: boolean
  /** The TXT strings, when the packet carried them. */
  rawTxt: Uint8Array[] | null
  /** A and AAAA data for the instance's SRV target in the packet (unvalidated). */
  addresses: string[]
}

const name = (rr: ServiceRecord): string => typeof rr.name === 'string' ? rr.name.toLowerCase() : ''

/**
 * The instances of one service type in a response packet. Tolerates anything a hostile packet
 * can hold: missing records, wrong data shapes, repeated names; the first record of a kind for a
 * name counts. Nothing here is trusted: the peer table validates what it keeps.
 */
export function instancesIn (packet: MdnsPacket, serviceType: string): InstanceAnswer[] {
  const suffix = `.${serviceType.toLowerCase()}`
  const records = [...(Array.isArray(packet.answers) ? packet.answers : []), ...(Array.isArray(packet.additionals) ? packet.additionals : [])]
    .filter((rr): rr is ServiceRecord => typeof rr === 'object' && rr !== null)
  const found = new Map<string, InstanceAnswer>()
  const instance = (fqdn: string): InstanceAnswer => {
    let answer = found.get(fqdn)
    if (answer === undefined) {
      answer = { fqdn, instanceName: fqdn.slice(0, -suffix.length), goodbye: false, rawTxt: null, addresses: [] }
      found.set(fqdn, answer)
    }
    return answer
  }
  const targets = new Map<string, string>()
  for (const rr of records) {
    const rrName = name(rr)
    if (rr.type === 'PTR' && rrName === serviceType.toLowerCase() && typeof rr.data === 'string' && rr.data.toLowerCase().endsWith(suffix)) {
      if (rr.ttl === 0) instance(rr.data.toLowerCase()).goodbye = true
    } else if (rr.type === 'SRV' && rrName.endsWith(suffix) && rrName.length > suffix.length) {
      const answer = instance(rrName)
      if (rr.ttl === 0) answer.goodbye = true
      const target = (rr.data as { target?: unknown } | null)?.target
      if (typeof target === 'string' && !targets.has(rrName)) targets.set(rrName, target.toLowerCase())
    } else if (rr.type === 'TXT' && rrName.endsWith(suffix) && rrName.length > suffix.length) {
      const answer = instance(rrName)
      if (answer.rawTxt === null && Array.isArray(rr.data)) answer.rawTxt = rr.data.filter((b: unknown): b is Uint8Array => b instanceof Uint8Array)
    }
  }
  for (const [fqdn, target] of targets) {
    const answer = found.get(fqdn)
    for (const rr of records) {
      if ((rr.type === 'A' || rr.type === 'AAAA') && name(rr) === target && typeof rr.data === 'string') answer?.addresses.push(rr.data)
    }
  }
  // The instance label is the part before the service type, as sent (DNS-SD allows dots in it).
  for (const answer of found.values()) {
    const original = records.find((rr) => name(rr) === answer.fqdn && typeof rr.name === 'string')?.name ?? answer.fqdn
    answer.instanceName = original.slice(0, original.length - suffix.length)
  }
  return [...found.values()]
}
