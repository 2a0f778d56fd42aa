import { describe, expect, it } from 'vitest'
import { probeBuildConfig } from '../../../../agent/probe/build-config.ts'
import { AARCH64, ARM, fakeMachine, nix28, qemuEntry, RISCV64, warnings, X86_MASK, type FakeMachine } from './fakes.ts'

const BINFMT = '/proc/sys/fs/binfmt_misc'
const X86_64 = qemuEntry('/usr/bin/qemu-x86_64', '7f454c4602010100000000000000000002003e00', X86_MASK)
const emulating = { [`${BINFMT}/qemu-aarch64`]: AARCH64, [`${BINFMT}/qemu-riscv64`]: RISCV64, [`${BINFMT}/qemu-arm`]: ARM }

describe('probeBuildConfig', () => {
  const cases: Array<[string, FakeMachine, { systems: string[], supportedFeatures: string[] }, number]> = [
    [
      'Nix: system, then extra-platforms, deduplicated; features from system-features',
      { commands: nix28({ system: 'x86_64-linux', extraPlatforms: ['i686-linux', 'x86_64-linux', 'aarch64-linux'], systemFeatures: ['kvm', 'big-parallel', 'kvm'] }) },
      { systems: ['x86_64-linux', 'i686-linux', 'aarch64-linux'], supportedFeatures: ['kvm', 'big-parallel'] },
      0
    ],
    [
      'no Nix: the architecture, no features',
      { arch: 'arm64' },
      { systems: ['aarch64-linux'], supportedFeatures: [] },
      0
    ],
    [
      'no Nix: the architecture, then what binfmt_misc emulates',
      { files: emulating },
      { systems: ['x86_64-linux', 'aarch64-linux', 'armv7l-linux', 'riscv64-linux'], supportedFeatures: [] },
      0
    ],
    [
      'no Nix on aarch64, an aarch64 handler too: native stays first, once',
      { arch: 'arm64', files: { [`${BINFMT}/qemu-aarch64`]: AARCH64, [`${BINFMT}/qemu-x86_64`]: X86_64 } },
      { systems: ['aarch64-linux', 'x86_64-linux'], supportedFeatures: [] },
      0
    ],
    [
      'Nix: binfmt systems it lists are kept once, others left out with a warning each',
      { commands: nix28({ system: 'x86_64-linux', extraPlatforms: ['aarch64-linux'] }), files: emulating },
      { systems: ['x86_64-linux', 'aarch64-linux'], supportedFeatures: [] },
      2
    ]
  ]

  it.each(cases)('%s', async (_, machine, expected, warningCount) => {
    const { deps, logs } = fakeMachine(machine)
    expect(await probeBuildConfig(deps)).toEqual(expected)
    expect(warnings(logs)).toHaveLength(warningCount)
  })
})
