import { describe, expect, it } from 'vitest'
import { probeNixSettings } from '../../../../agent/probe/nix-settings.ts'
import { fakeMachine, nix28, warnings, type FakeMachine } from './fakes.ts'

describe('probeNixSettings', () => {
  it('prefers what the nix command says over nix.conf', async () => {
    const { deps } = fakeMachine({
      commands: nix28({ system: 'x86_64-linux', extraPlatforms: ['i686-linux'], systemFeatures: ['kvm'] }),
      files: { '/etc/nix/nix.conf': 'system-features = benchmark\n' }
    })
    expect(await probeNixSettings(deps)).toEqual({ system: 'x86_64-linux', extraPlatforms: ['i686-linux'], systemFeatures: ['kvm'] })
  })

  it('resolves null when neither the nix command nor nix.conf exists', async () => {
    const { deps } = fakeMachine()
    expect(await probeNixSettings(deps)).toBeNull()
  })

  describe('reading nix.conf when the nix command is missing', () => {
    const cases: Array<[string, FakeMachine, { system: string, extraPlatforms: string[], systemFeatures: string[] }]> = [
      [
        'an empty file gives Nix\'s defaults',
        { files: { '/etc/nix/nix.conf': '# nothing\n' } },
        { system: 'x86_64-linux', extraPlatforms: ['i686-linux'], systemFeatures: ['nixos-test', 'benchmark', 'big-parallel'] }
      ],
      [
        'kvm is a default when /dev/kvm exists',
        { files: { '/etc/nix/nix.conf': '' }, paths: ['/dev/kvm'], arch: 'arm64' },
        { system: 'aarch64-linux', extraPlatforms: [], systemFeatures: ['nixos-test', 'benchmark', 'big-parallel', 'kvm'] }
      ],
      [
        'settings replace the defaults, comments anywhere',
        {
          files: {
            '/etc/nix/nix.conf': [
              'system = x86_64-linux # the native one',
              'extra-platforms = aarch64-linux   riscv64-linux',
              '\tsystem-features = kvm big-parallel',
              'sandbox = false'
            ].join('\n')
          }
        },
        { system: 'x86_64-linux', extraPlatforms: ['aarch64-linux', 'riscv64-linux'], systemFeatures: ['kvm', 'big-parallel'] }
      ],
      [
        'extra- appends to the default or to the value set before it; a later set replaces',
        {
          files: {
            '/etc/nix/nix.conf': [
              'extra-system-features = kvm',
              'extra-extra-platforms = aarch64-linux',
              'extra-extra-platforms = riscv64-linux',
              'extra-platforms = armv7l-linux',
              'extra-extra-platforms = aarch64-linux'
            ].join('\n')
          }
        },
        { system: 'x86_64-linux', extraPlatforms: ['armv7l-linux', 'aarch64-linux'], systemFeatures: ['nixos-test', 'benchmark', 'big-parallel', 'kvm'] }
      ],
      [
        'include and !include read other files in place, relative to the including file',
        {
          files: {
            '/etc/nix/nix.conf': [
              'system-features = benchmark',
              'include machine.conf',
              '!include /etc/nix/missing.conf',
              '!include /etc/nix/local/extra.conf',
              'extra-system-features = nixos-test'
            ].join('\n'),
            '/etc/nix/machine.conf': 'extra-platforms = aarch64-linux\ninclude features.conf\n',
            '/etc/nix/features.conf': 'extra-system-features = kvm\n',
            '/etc/nix/local/extra.conf': 'extra-extra-platforms = riscv64-linux\n'
          }
        },
        { system: 'x86_64-linux', extraPlatforms: ['aarch64-linux', 'riscv64-linux'], systemFeatures: ['benchmark', 'kvm', 'nixos-test'] }
      ]
    ]

    it.each(cases)('%s', async (_, machine, expected) => {
      const { deps, logs } = fakeMachine(machine)
      expect(await probeNixSettings(deps)).toEqual(expected)
      expect(warnings(logs)).toEqual([])
    })

    it('warns about a missing include and malformed lines, and keeps going', async () => {
      const { deps, logs } = fakeMachine({
        files: { '/etc/nix/nix.conf': 'include gone.conf\nsystem-features kvm\nbogus\nsystem-features = kvm\n' }
      })
      expect(await probeNixSettings(deps)).toMatchObject({ systemFeatures: ['kvm'] })
      expect(warnings(logs)).toEqual([
        'Nix config includes a file that does not exist',
        'ignoring a malformed line in Nix config',
        'ignoring a malformed line in Nix config'
      ])
    })

    it('survives an include cycle', async () => {
      const { deps, logs } = fakeMachine({ files: { '/etc/nix/nix.conf': 'include nix.conf\nsystem-features = kvm\n' } })
      expect(await probeNixSettings(deps)).toMatchObject({ systemFeatures: ['kvm'] })
      expect(warnings(logs)).toContain('nix.conf includes nest too deep; ignoring the rest')
    })
  })
})
