import { describe, expect, it } from 'vitest'
import { binfmtSystem, parseBinfmtEntry, probeBinfmtSystems } from '../../../../agent/probe/binfmt.ts'
import { AARCH64, ARM, fakeMachine, qemuEntry, RISCV64, X86_MASK } from './fakes.ts'

const I386 = qemuEntry('/usr/bin/qemu-i386', '7f454c4601010100000000000000000002000300', X86_MASK)
const PPC64 = qemuEntry('/usr/bin/qemu-ppc64', '7f454c4602020100000000000000000000020015', 'ffffffffffffff00fffffffffffffffffffeffff')
const S390X = qemuEntry('/usr/bin/qemu-s390x', '7f454c4602020100000000000000000000020016', 'ffffffffffffff00fffffffffffffffffffeffff')
const RISCV32 = qemuEntry('/usr/bin/qemu-riscv32', '7f454c460101010000000000000000000200f300')

describe('binfmtSystem', () => {
  it.each([
    ['aarch64', AARCH64, 'aarch64-linux'],
    ['riscv64', RISCV64, 'riscv64-linux'],
    ['riscv32 (EI_CLASS 1)', RISCV32, 'riscv32-linux'],
    ['arm', ARM, 'armv7l-linux'],
    ['i386, whose mask leaves EI_DATA loose', I386, 'i686-linux'],
    ['ppc64, big-endian e_machine', PPC64, 'powerpc64-linux'],
    ['s390x', S390X, 's390x-linux'],
    // The magic says nothing known (e_machine unmasked), so the interpreter's name decides.
    ['an unmasked e_machine, by interpreter name', qemuEntry('/usr/bin/qemu-aarch64-static', '7f454c460201010000000000000000000200b700', 'ffffffffffffff00fffffffffffffffffeff0000'), 'aarch64-linux'],
    ['Debian\'s interpreter name', 'enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\nflags: F\nextension .x\n', 'riscv64-linux'],
    ['a NixOS wrapper named after the system', 'enabled\ninterpreter /run/binfmt/aarch64-linux\nflags: F\nextension .x\n', 'aarch64-linux']
  ])('%s', (_, text, system) => {
    expect(binfmtSystem(parseBinfmtEntry('qemu-x', text))).toBe(system)
  })

  it.each([
    ['a non-ELF handler', 'enabled\ninterpreter /usr/bin/wine\nflags: \noffset 0\nmagic 4d5a\n'],
    ['a jar handler by extension', 'enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n'],
    ['an unknown machine', qemuEntry('/usr/bin/qemu-xtensa', '7f454c4601010100000000000000000002005e00')]
  ])('%s runs no system', (_, text) => {
    expect(binfmtSystem(parseBinfmtEntry('handler', text))).toBeUndefined()
  })

  it('falls back to the entry name', () => {
    const entry = parseBinfmtEntry('qemu-riscv64', 'enabled\ninterpreter /opt/emu/run\nflags: F\nextension .x\n')
    expect(binfmtSystem(entry)).toBe('riscv64-linux')
  })
})

describe('probeBinfmtSystems', () => {
  const dir = '/proc/sys/fs/binfmt_misc'

  it('lists the systems of enabled entries, skipping register, status and disabled entries', async () => {
    const { deps, reads } = fakeMachine({
      files: {
        [`${dir}/register`]: '',
        [`${dir}/status`]: 'enabled\n',
        [`${dir}/qemu-aarch64`]: AARCH64,
        [`${dir}/qemu-arm`]: ARM,
        [`${dir}/qemu-riscv64`]: RISCV64,
        [`${dir}/qemu-s390x`]: S390X.replace('enabled', 'disabled'),
        [`${dir}/qemu-aarch64-static`]: AARCH64,
        [`${dir}/jar`]: 'enabled\ninterpreter /usr/bin/jexec\nflags: \nextension .jar\n'
      }
    })
    expect(await probeBinfmtSystems(deps)).toEqual(['aarch64-linux', 'armv7l-linux', 'riscv64-linux'])
    expect(reads).not.toContain(`${dir}/register`)
    expect(reads).not.toContain(`${dir}/status`)
  })

  it('is empty when binfmt_misc is not mounted', async () => {
    const { deps } = fakeMachine()
    expect(await probeBinfmtSystems(deps)).toEqual([])
  })
})
