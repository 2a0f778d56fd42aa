import { execFile, execFileSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidFieldError, UsageError } from '../../../common/errors.ts'
import type { Advertisement } from '../../../wire/advertisement.ts'
import { nixLineProblem, renderNixMachines } from '../../../scheduler/nix-machines.ts'
import type { Builder } from '../../../scheduler/peer.ts'
import { advertisement, ECDSA_P256_KEY, ED25519_KEY } from '../../support/advertisements.ts'

const KEY_PATH = '/var/lib/buildmesh/id_ed25519'
const b64 = (s: string): string => Buffer.from(s).toString('base64')
const builder = (host: string, overrides: Partial<Advertisement> = {}): Builder => ({ host, advertisement: advertisement(overrides) })

const fast = builder('192.168.1.10')
const plain = builder('192.168.1.11', { systems: ['aarch64-linux'], supportedFeatures: [], slots: 4, speed: 0.4, hostKey: null, sshUser: 'root' })
const bench = builder('10.0.0.3', { systems: ['x86_64-linux'], supportedFeatures: ['kvm'], mandatoryFeatures: ['benchmark'], slots: 1, speed: 2.5, hostKey: ECDSA_P256_KEY })
const v6 = builder('2001:db8::5', { systems: ['riscv64-linux'], supportedFeatures: ['gccarch-rv64gc'], slots: 2, speed: 1 })

describe('renderNixMachines', () => {
  it('writes one 8-column line per builder, in order', () => {
    expect(renderNixMachines([fast, plain, bench, v6], { sshKeyPath: KEY_PATH })).toBe(
      `ssh-ng://nix-builder@192.168.1.10 x86_64-linux,i686-linux ${KEY_PATH} 16 2 kvm,big-parallel,nixos-test,benchmark - ${b64(ED25519_KEY)}\n` +
      `ssh-ng://root@192.168.1.11 aarch64-linux ${KEY_PATH} 4 1 - - -\n` +
      `ssh-ng://nix-builder@10.0.0.3 x86_64-linux ${KEY_PATH} 1 3 kvm benchmark ${b64(ECDSA_P256_KEY)}\n` +
      `ssh-ng://nix-builder@[2001:db8::5] riscv64-linux ${KEY_PATH} 2 1 gccarch-rv64gc - ${b64(ED25519_KEY)}\n`
    )
  })

  it('writes nothing for no builders', () => {
    expect(renderNixMachines([], { sshKeyPath: KEY_PATH })).toBe('')
  })

  it('skips builders Nix 2.8 cannot reach, and says why', () => {
    const port = builder('192.168.1.12', { sshPort: 2222 })
    const scoped = builder('fe80::1%eth0')
    expect(nixLineProblem(fast)).toBeNull()
    expect(nixLineProblem(v6)).toBeNull()
    expect(nixLineProblem(port)).toBe('ssh port 2222 needs Nix >= 2.31')
    expect(nixLineProblem(scoped)).toMatch(/scoped IPv6 address fe80::1%eth0/)
    expect(renderNixMachines([port, fast, scoped], { sshKeyPath: KEY_PATH })).toBe(renderNixMachines([fast], { sshKeyPath: KEY_PATH }))
  })

  it.each([
    ['a newline in a system', builder('192.168.1.10', { systems: ['x86_64-linux\nssh-ng://evil'] })],
    ['a space in the user', builder('192.168.1.10', { sshUser: 'root x' })],
    ['a ; in a feature', builder('192.168.1.10', { supportedFeatures: ['kvm;ssh-ng://evil'] })],
    ['a # in a mandatory feature', builder('192.168.1.10', { mandatoryFeatures: ['a#b'] })],
    ['an empty system list', builder('192.168.1.10', { systems: [] })],
    ['zero slots', builder('192.168.1.10', { slots: 0 })],
    ['a NaN speed', builder('192.168.1.10', { speed: NaN })],
    ['a fake host key', builder('192.168.1.10', { hostKey: 'ssh-ed25519 AAAA\nssh-ng://evil' })],
    ['a host that is not an address', builder('192.168.1.10 x86_64-linux')],
    ['a host name', builder('evil.example')]
  ])('throws instead of writing %s', (_, bad) => {
    expect(() => renderNixMachines([fast, bad], { sshKeyPath: KEY_PATH })).toThrow(InvalidFieldError)
  })

  it.each(['relative/key', '/a key', '/a;b', '/a#b', '/a\nb', ''])('refuses the key path %j', (sshKeyPath) => {
    expect(() => renderNixMachines([fast], { sshKeyPath })).toThrow(UsageError)
  })
})

function hasNixBuild (): boolean {
  try {
    execFileSync('nix-build', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** What Nix 2.8's build-remote hook prints for each machine it parsed (features come out sorted). */
function nixSummary (b: Builder): string {
  const ad = b.advertisement
  return `(${ad.systems.join(', ')}, ${ad.slots}, ${[...ad.supportedFeatures].sort().join(', ')}, ${[...ad.mandatoryFeatures].sort().join(', ')})`
}

describe.skipIf(!hasNixBuild())('real Nix reads the rendered file', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-nix-'))
    // A derivation for a system no machine has: the hook must parse the whole file, then fail.
    await writeFile(join(dir, 'drv.nix'),
      'derivation { name = "buildmesh-machines-test"; system = "buildmesh-test-none"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; }\n')
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** Runs nix-build against `text` as the machines file in a throwaway store; returns stderr. */
  async function nixBuild (text: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
    const machines = join(dir, 'machines')
    await writeFile(machines, text)
    const args = [join(dir, 'drv.nix'), '--store', join(dir, 'store'), '--max-jobs', '0', '--builders', `@${machines}`,
      '--no-out-link', '--option', 'substituters', '']
    return await new Promise((resolve) => {
      execFile('nix-build', args, { env, timeout: 30_000 }, (err, _stdout, stderr) => {
        expect(err).not.toBeNull()
        resolve(stderr)
      })
    })
  }

  const builders = [fast, plain, bench, v6]

  it('parses every line: the hook lists each machine with our systems, slots and features', async () => {
    const stderr = await nixBuild(renderNixMachines(builders, { sshKeyPath: KEY_PATH }))
    expect(stderr).not.toMatch(/bad machine specification/)
    expect(stderr).toContain('Failed to find a machine for remote build!')
    expect(stderr).toContain(`${builders.length} available machines:`)
    for (const b of builders) expect(stderr).toContain(nixSummary(b))
  })

  it('reads an empty file as no remote builders', async () => {
    expect(await nixBuild(renderNixMachines([], { sshKeyPath: KEY_PATH }))).toMatch(/either increase '--max-jobs' or enable remote builds/)
  })

  // The same harness must notice a file Nix refuses, or the test above proves nothing.
  it.each([
    ['a non-integer maxJobs', `ssh-ng://root@10.0.0.1 x86_64-linux ${KEY_PATH} four 1 - - -\n`, /failed to convert column #3 .* to 'unsigned int'/],
    ['a float speedFactor (fine since Nix 2.20, not in 2.8)', `ssh-ng://root@10.0.0.1 x86_64-linux ${KEY_PATH} 1 1.5 - - -\n`, /failed to convert column #4/],
    ['a host key that is not base64', `ssh-ng://root@10.0.0.1 x86_64-linux ${KEY_PATH} 1 1 - - ${ED25519_KEY.replace(' ', '_')}\n`, /column #7 .* is not valid base64/],
    ['a line of only spaces', `ssh-ng://root@10.0.0.1 x86_64-linux ${KEY_PATH} 1 1 - - -\n  \n`, /store URL was not found/]
  ])('detects a malformed line: %s', async (_, text, message) => {
    const stderr = await nixBuild(text)
    expect(stderr).toMatch(/error: bad machine specification/)
    expect(stderr).toMatch(message)
  })

  it('detects a machine injected with ;', async () => {
    const text = renderNixMachines([fast], { sshKeyPath: KEY_PATH }).replace('\n', ';ssh-ng://evil@10.6.6.6 buildmesh-x - 1 1 - - -\n')
    const stderr = await nixBuild(text)
    expect(stderr).toContain('2 available machines:')
    expect(stderr).toContain('(buildmesh-x, 1, , )')
  })

  it('hands ssh a bracket-free IPv6 address from ssh-ng://user@[addr]', async () => {
    // A stand-in ssh records its arguments and fails: nothing leaves the machine.
    const bin = join(dir, 'bin')
    const log = join(dir, 'ssh.log')
    await mkdir(bin)
    await writeFile(join(bin, 'ssh'), `#!/bin/sh\necho "$@" >> ${log}\nexit 1\n`)
    await chmod(join(bin, 'ssh'), 0o755)
    const target = builder('2001:db8::5', { systems: ['buildmesh-test-none'], supportedFeatures: [], sshUser: 'root' })
    const stderr = await nixBuild(renderNixMachines([target], { sshKeyPath: KEY_PATH }), { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` })
    expect(stderr).toContain("cannot open connection to remote store 'ssh-ng://root@2001:db8::5'")
    expect((await readFile(log, 'utf8')).split(' ')[0]).toBe('root@2001:db8::5')
  })
})
