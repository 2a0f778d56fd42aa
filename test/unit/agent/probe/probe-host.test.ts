import { describe, expect, it } from 'vitest'
import { probeHost } from '../../../../agent/probe/probe-host.ts'
import { fakeMachine, nix28, publicKey, type FakeMachine } from './fakes.ts'

const ed25519 = publicKey('ssh-ed25519', 7)
const rsa = publicKey('ssh-rsa', 8)

const machine: FakeMachine = {
  hostname: 'Builder-7.lan',
  cores: 8,
  loadavg: [2, 1, 1],
  userName: 'nixbuild',
  commands: nix28({ system: 'x86_64-linux', extraPlatforms: ['i686-linux'], systemFeatures: ['kvm', 'big-parallel'] }),
  paths: ['/nix/store'],
  statfs: { '/nix/store': { bavail: 250, bsize: 4096 }, '/': { bavail: 1, bsize: 1 } },
  files: {
    '/etc/ssh/sshd_config': 'Port 2222\n',
    '/etc/ssh/ssh_host_ed25519_key.pub': `${ed25519} root@builder-7\n`,
    '/srv/other.pub': `${rsa} other\n`
  }
}

describe('probeHost', () => {
  it('probes every fact', async () => {
    const { deps } = fakeMachine(machine)
    expect(await probeHost(deps)).toEqual({
      name: 'builder-7',
      systems: ['x86_64-linux', 'i686-linux'],
      supportedFeatures: ['kvm', 'big-parallel'],
      mandatoryFeatures: [],
      slots: 8,
      speed: 1.5,
      load: 0.25,
      freeDiskBytes: 1_024_000,
      sshUser: 'nixbuild',
      sshPort: 2222,
      hostKey: ed25519,
      cores: 8,
      storePath: '/nix/store'
    })
  })

  it('lets every override win and skips its probe', async () => {
    const { deps, commands, reads } = fakeMachine(machine)
    const facts = await probeHost(deps, {
      name: 'big-box',
      systems: ['aarch64-linux'],
      features: ['benchmark'],
      mandatoryFeatures: ['big-parallel'],
      slots: 3,
      speed: 4,
      sshUser: 'builder',
      sshPort: 22,
      sshHostKeyFile: '/srv/other.pub'
    })
    expect(facts).toMatchObject({
      name: 'big-box',
      systems: ['aarch64-linux'],
      supportedFeatures: ['benchmark'],
      mandatoryFeatures: ['big-parallel'],
      slots: 3,
      speed: 4,
      sshUser: 'builder',
      sshPort: 22,
      hostKey: rsa,
      cores: 8
    })
    expect(commands).toEqual([])
    expect(reads).toEqual(['/srv/other.pub'])
  })

  it('still asks Nix when only one of systems and features is given', async () => {
    const { deps } = fakeMachine(machine)
    expect(await probeHost(deps, { systems: ['aarch64-linux'] })).toMatchObject({
      systems: ['aarch64-linux'],
      supportedFeatures: ['kvm', 'big-parallel']
    })
  })

  it('advertises root with a warning when the user has no name', async () => {
    const { deps, logs } = fakeMachine(machine)
    deps.userName = () => { throw new Error('ENOENT: no passwd entry') }
    expect((await probeHost(deps)).sshUser).toBe('root')
    expect(logs.some((line) => line.level === 40 && line.msg.includes('--ssh-user'))).toBe(true)
  })

  it('rejects an unreadable host key override', async () => {
    const { deps } = fakeMachine(machine)
    await expect(probeHost(deps, { sshHostKeyFile: '/srv/missing.pub' })).rejects.toMatchObject({ code: 'ERR_SSH_HOST_KEY' })
  })
})
