import { describe, expect, it } from 'vitest'
import { UsageError } from '../../../../common/errors.ts'
import { SshHostKeyError } from '../../../../agent/probe/errors.ts'
import { parsePublicKey, probeHostKey } from '../../../../agent/probe/host-key.ts'
import { probeSshPort } from '../../../../agent/probe/ssh-port.ts'
import { fakeMachine, publicKey, warnings } from './fakes.ts'

describe('probeSshPort', () => {
  it.each([
    ['no sshd_config', {}, 22],
    ['no Port line', { '/etc/ssh/sshd_config': 'UsePAM yes\n#Port 2200\n' }, 22],
    ['the first Port', { '/etc/ssh/sshd_config': 'UsePAM yes\nPort 2222\nPort 2223\n' }, 2222],
    ['keyword case and = syntax', { '/etc/ssh/sshd_config': 'port=2022\n' }, 2022],
    ['a Port inside an Include glob comes first, in name order', {
      '/etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\nPort 2222\n',
      '/etc/ssh/sshd_config.d/20-port.conf': 'Port 2020\n',
      '/etc/ssh/sshd_config.d/10-other.conf': 'PasswordAuthentication no\n',
      '/etc/ssh/sshd_config.d/05-port.disabled': 'Port 2005\n'
    }, 2020],
    ['a relative Include is relative to /etc/ssh', { '/etc/ssh/sshd_config': 'Include local.conf\n', '/etc/ssh/local.conf': 'Port 2200\n' }, 2200],
    ['nothing after Match', { '/etc/ssh/sshd_config': 'Match User build\n  Port 2222\n' }, 22]
  ])('%s -> %i', async (_, files, port) => {
    const { deps } = fakeMachine({ files })
    expect(await probeSshPort(deps)).toBe(port)
  })

  it('warns about an invalid Port and keeps looking', async () => {
    const { deps, logs } = fakeMachine({ files: { '/etc/ssh/sshd_config': 'Port 99999\nPort 2222\n' } })
    expect(await probeSshPort(deps)).toBe(2222)
    expect(warnings(logs)).toEqual(['ignoring an invalid Port in sshd config'])
  })
})

describe('probeHostKey', () => {
  const ed25519 = publicKey('ssh-ed25519', 1)
  const ecdsa = publicKey('ecdsa-sha2-nistp256', 2)
  const rsa = publicKey('ssh-rsa', 3)

  it.each([
    ['ed25519 first, comment dropped', {
      '/etc/ssh/ssh_host_ed25519_key.pub': `${ed25519} root@vm\n`,
      '/etc/ssh/ssh_host_ecdsa_key.pub': ecdsa,
      '/etc/ssh/ssh_host_rsa_key.pub': rsa
    }, ed25519],
    ['ecdsa without ed25519', { '/etc/ssh/ssh_host_ecdsa_key.pub': `${ecdsa} a comment with spaces\n`, '/etc/ssh/ssh_host_rsa_key.pub': rsa }, ecdsa],
    ['rsa last', { '/etc/ssh/ssh_host_rsa_key.pub': rsa }, rsa],
    ['a mangled ed25519 file is skipped', { '/etc/ssh/ssh_host_ed25519_key.pub': 'ssh-ed25519 AAAAC3Nz\n', '/etc/ssh/ssh_host_rsa_key.pub': rsa }, rsa],
    ['none readable', {}, null]
  ])('%s', async (_, files, key) => {
    const { deps } = fakeMachine({ files })
    expect(await probeHostKey(deps)).toBe(key)
  })

  it('warns when there is no key to advertise', async () => {
    const { deps, logs } = fakeMachine()
    expect(await probeHostKey(deps)).toBeNull()
    expect(warnings(logs)).toHaveLength(1)
  })

  it('reads a named file instead of the defaults', async () => {
    const { deps, reads } = fakeMachine({ files: { '/srv/key.pub': `${rsa} me@there\n`, '/etc/ssh/ssh_host_ed25519_key.pub': ed25519 } })
    expect(await probeHostKey(deps, '/srv/key.pub')).toBe(rsa)
    expect(reads).toEqual(['/srv/key.pub'])
  })

  it.each([
    ['unreadable', {}],
    ['without a public key', { '/srv/key.pub': '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n' }]
  ])('rejects a named file that is %s, naming it', async (_, files) => {
    const { deps } = fakeMachine({ files })
    const error = await probeHostKey(deps, '/srv/key.pub').catch((err: unknown) => err)
    expect(error).toBeInstanceOf(SshHostKeyError)
    expect(error).toBeInstanceOf(UsageError)
    expect(error).toMatchObject({ code: 'ERR_SSH_HOST_KEY', file: '/srv/key.pub', exitCode: 2 })
    expect((error as Error).message).toContain('/srv/key.pub')
  })
})

describe('parsePublicKey', () => {
  it.each([
    ['a key without comment', publicKey('ssh-ed25519'), publicKey('ssh-ed25519')],
    ['a key after comments and blank lines', `# host key\n\n${publicKey('ssh-ed25519')} root@vm`, publicKey('ssh-ed25519')],
    ['a blob naming another type', `ssh-rsa ${publicKey('ssh-ed25519').split(' ')[1] ?? ''}`, null],
    ['one word', 'ssh-ed25519', null],
    ['not base64', 'ssh-ed25519 AAAA$$$', null]
  ])('%s', (_, text, key) => {
    expect(parsePublicKey(text)).toBe(key)
  })
})
