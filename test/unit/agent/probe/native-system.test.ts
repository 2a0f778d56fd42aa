import { describe, expect, it } from 'vitest'
import { nativeSystem } from '../../../../agent/probe/native-system.ts'

describe('nativeSystem', () => {
  it.each([
    ['x64', 'linux', 'x86_64-linux'],
    ['arm64', 'linux', 'aarch64-linux'],
    ['riscv64', 'linux', 'riscv64-linux'],
    ['ia32', 'linux', 'i686-linux'],
    ['arm', 'linux', 'armv7l-linux'],
    ['arm64', 'darwin', 'aarch64-darwin'],
    ['x64', 'darwin', 'x86_64-darwin'],
    ['x64', 'freebsd', 'x86_64-freebsd']
  ])('%s on %s -> %s', (arch, platform, system) => {
    expect(nativeSystem(arch, platform)).toBe(system)
  })
})
