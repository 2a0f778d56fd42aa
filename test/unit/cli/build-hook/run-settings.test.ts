import { describe, expect, it } from 'vitest'
import type { Setting } from '../../../../cli/build-hook/messages.ts'
import { buildsHere } from '../../../../cli/build-hook/run-settings.ts'

/** Settings as the hook reads them from what Nix 2.8 sends (the values are a real run's). */
const settings = (values: Record<string, string>): Setting[] => Object.entries(values).map(([name, value]) => ({ name, value: Buffer.from(value) }))

describe('what the hook reads of Nix\'s settings', () => {
  it('says whether Nix could build a request here, as Nix decides it', () => {
    const nix = settings({ system: 'x86_64-linux', 'extra-platforms': 'i686-linux x86_64-v1-linux', 'system-features': 'benchmark big-parallel kvm nixos-test' })
    expect(buildsHere(nix, { system: 'x86_64-linux', requiredFeatures: [] })).toBe(true)
    expect(buildsHere(nix, { system: 'i686-linux', requiredFeatures: ['kvm', 'big-parallel'] })).toBe(true)
    expect(buildsHere(nix, { system: 'builtin', requiredFeatures: [] })).toBe(true)
    expect(buildsHere(nix, { system: 'aarch64-linux', requiredFeatures: [] })).toBe(false)
    expect(buildsHere(nix, { system: 'x86_64-linux', requiredFeatures: ['gccarch-armv8-a'] })).toBe(false)
  })

  it('takes a setting Nix did not send as allowing it', () => {
    expect(buildsHere(settings({}), { system: 'riscv64-linux', requiredFeatures: ['kvm'] })).toBe(true)
    expect(buildsHere(settings({ system: 'x86_64-linux' }), { system: 'x86_64-linux', requiredFeatures: ['kvm'] })).toBe(true)
  })
})
