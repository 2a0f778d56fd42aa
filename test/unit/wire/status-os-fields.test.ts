import { describe, expect, it } from 'vitest'
import { InvalidFieldError } from '../../../common/errors.ts'
import { decodeStatus, encodeStatus, osFields, type BuilderStatus } from '../../../wire/status.ts'
import { advertisement, statusFrom } from '../../support/advertisements.ts'

const base = statusFrom(advertisement())
const bytes = (doc: Record<string, unknown>): Uint8Array => new TextEncoder().encode(JSON.stringify(doc))

describe('kernel, arch and host name in a status', () => {
  it('round-trips them, and reads a status from a builder that sends none', () => {
    const full: BuilderStatus = { ...base, kernel: '6.1.0-18-amd64', arch: 'x86_64', hostName: 'builder-1.example.org' }
    expect(decodeStatus(encodeStatus(full))).toEqual(full)
    const old = decodeStatus(encodeStatus(base))
    expect([old.kernel, old.arch, old.hostName]).toEqual([undefined, undefined, undefined])
  })

  it.each([
    ['kernel', '6.1.0 evil'],
    ['kernel', 'x'.repeat(65)],
    ['kernel', '6.1\n'],
    ['kernel', 6],
    ['arch', 'x86-64'],
    ['arch', ''],
    ['hostName', '-lead.example.org'],
    ['hostName', 'a'.repeat(254)],
    ['hostName', 'host name'],
    ['hostName', null]
  ])('refuses a status whose %s is %j', (key, value) => {
    const err = (() => { try { decodeStatus(bytes({ ...base, [key]: value })) } catch (e) { return e } })()
    expect(err).toBeInstanceOf(InvalidFieldError)
    expect((err as InvalidFieldError).field).toBe(key)
  })

  it('leaves out what would not validate, so an odd host still sends its status', () => {
    expect(osFields({ kernel: '5.15.90.1-microsoft-standard-WSL2', arch: 'aarch64', hostName: 'b1' })).toEqual({ kernel: '5.15.90.1-microsoft-standard-WSL2', arch: 'aarch64', hostName: 'b1' })
    expect(osFields({ kernel: 'my kernel', arch: 'x86_64', hostName: 'bad host' })).toEqual({ arch: 'x86_64' })
  })
})
