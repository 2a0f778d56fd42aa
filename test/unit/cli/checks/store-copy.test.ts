import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { copyRoundTrips, knownHostsLine, nixError, sshOptions, type CommandResult, type RunCommand } from '../../../../cli/checks/store-copy.ts'
import { ED25519_KEY } from '../../../support/advertisements.ts'

const target = { host: '10.0.0.2', port: 22, user: 'nix', hostKey: ED25519_KEY }
const PATH = '/nix/store/0c8ndcmvwdbhdbrq9fw69i5sj3jz5ixq-buildmesh-check'
const ok = (stdout = ''): CommandResult => ({ code: 0, stdout, stderr: '', spawnError: null })

interface Call { command: string, args: string[], sshOpts: string | undefined, knownHosts: string | null }

/** A stand-in for Nix: records each command (and the known_hosts file it was given), answers from a script. */
function fakeNix (answers: Array<CommandResult | ((call: Call) => CommandResult)>): { run: RunCommand, calls: Call[] } {
  const calls: Call[] = []
  const run: RunCommand = async (command, args, env) => {
    const file = /UserKnownHostsFile=(\S+)/.exec(env.NIX_SSHOPTS ?? '')?.[1]
    const call = { command, args, sshOpts: env.NIX_SSHOPTS, knownHosts: file === undefined ? null : await readFile(file, 'utf8') }
    calls.push(call)
    const answer = answers.shift() ?? ok()
    return typeof answer === 'function' ? answer(call) : answer
  }
  return { run, calls }
}

describe('copyRoundTrips', () => {
  it('adds a fresh text file, copies it there over ssh-ng:// and back into a throwaway store', async () => {
    const nix = fakeNix([ok(`${PATH}\n`), ok(), ok()])
    const facts = await copyRoundTrips({ keyPath: '/var/lib/buildmesh/ssh/id_ed25519', env: { HOME: '/root' }, run: nix.run })(target, AbortSignal.timeout(5000))
    expect(facts).toEqual({ path: PATH, failedAt: null, error: null, missingCommand: false })
    const [add, there, back] = nix.calls
    expect(add?.command).toBe('nix-store')
    expect(add?.args[0]).toBe('--add')
    expect(add?.args[1]).toMatch(/buildmesh-test-[^/]+\/buildmesh-check$/)
    expect(there?.args).toEqual(['--extra-experimental-features', 'nix-command', 'copy', '--to', 'ssh-ng://nix@10.0.0.2', PATH])
    expect(back?.args.slice(0, 6)).toEqual(['--extra-experimental-features', 'nix-command', 'copy', '--from', 'ssh-ng://nix@10.0.0.2', '--to'])
    expect(back?.args[6]).toMatch(/buildmesh-test-[^/]+\/store$/)
    expect(back?.args[7]).toBe(PATH)
    expect(there?.sshOpts).toMatch(/^-i \/var\/lib\/buildmesh\/ssh\/id_ed25519 -o IdentitiesOnly=yes -o UserKnownHostsFile=\S+ -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10$/)
    expect(there?.knownHosts).toBe(`10.0.0.2 ${ED25519_KEY}\n`)
  })

  it('adds the file once for all the builders of a run, also when they get to it at once', async () => {
    const nix = fakeNix([ok(`${PATH}\n`)])
    const copy = copyRoundTrips({ keyPath: '/k', env: {}, run: nix.run })
    const other = { ...target, host: '10.0.0.3' }
    const facts = await Promise.all([copy(target, AbortSignal.timeout(5000)), copy(other, AbortSignal.timeout(5000))])
    expect(facts.map((f) => f.failedAt)).toEqual([null, null])
    expect(nix.calls.filter((c) => c.command === 'nix-store')).toHaveLength(1)
    expect(nix.calls.filter((c) => c.args.includes('--to')).map((c) => c.args.find((a) => a.startsWith('ssh-ng://')))).toEqual(
      expect.arrayContaining(['ssh-ng://nix@10.0.0.2', 'ssh-ng://nix@10.0.0.3']))
  })

  it('gives every builder the failure to add it', async () => {
    const refused: CommandResult = { code: 1, stdout: '', stderr: 'error: SQLite database \'/nix/var/nix/db/db.sqlite\' is busy\n', spawnError: null }
    const nix = fakeNix([refused])
    const copy = copyRoundTrips({ keyPath: '/k', env: {}, run: nix.run })
    const facts = await Promise.all([copy(target, AbortSignal.timeout(5000)), copy(target, AbortSignal.timeout(5000))])
    expect(facts).toEqual(Array(2).fill({ path: null, failedAt: 'add', error: 'error: SQLite database \'/nix/var/nix/db/db.sqlite\' is busy', missingCommand: false }))
    expect(nix.calls).toHaveLength(1)
  })

  it('says which leg failed with Nix\'s own error', async () => {
    const refused: CommandResult = { code: 1, stdout: '', stderr: 'copying 1 paths...\n\x1b[31;1merror:\x1b[0m cannot add path \'/nix/store/x\' because it lacks a valid signature\n', spawnError: null }
    const there = await copyRoundTrips({ keyPath: '/k', env: {}, run: fakeNix([ok(PATH), refused]).run })(target, AbortSignal.timeout(5000))
    expect(there).toEqual({ path: PATH, failedAt: 'to', error: 'error: cannot add path \'/nix/store/x\' because it lacks a valid signature', missingCommand: false })
    const back = await copyRoundTrips({ keyPath: '/k', env: {}, run: fakeNix([ok(PATH), ok(), { ...refused, stderr: 'error: writing to file: No space left on device' }]).run })(target, AbortSignal.timeout(5000))
    expect(back).toMatchObject({ failedAt: 'from', error: 'error: writing to file: No space left on device' })
  })

  it('knows a master without Nix', async () => {
    const missing = Object.assign(new Error('spawn nix-store ENOENT'), { code: 'ENOENT' })
    const facts = await copyRoundTrips({ keyPath: '/k', env: {}, run: fakeNix([{ code: null, stdout: '', stderr: '', spawnError: missing }]).run })(target, AbortSignal.timeout(5000))
    expect(facts).toEqual({ path: null, failedAt: 'add', error: 'spawn nix-store ENOENT', missingCommand: true })
  })

  it('refuses a key path NIX_SSHOPTS would split', async () => {
    const facts = await copyRoundTrips({ keyPath: '/my keys/id', env: {}, run: fakeNix([ok(PATH)]).run })(target, AbortSignal.timeout(5000))
    expect(facts).toMatchObject({ failedAt: 'to', error: 'the key path /my keys/id has a space, which NIX_SSHOPTS cannot carry' })
  })
})

describe('ssh options for Nix', () => {
  it('carries a port other than 22 in the options and in the known_hosts line', () => {
    const t = { ...target, port: 2222 }
    expect(sshOptions(t, '/k', '/kh').startsWith('-p 2222 -i /k ')).toBe(true)
    expect(knownHostsLine(t)).toBe(`[10.0.0.2]:2222 ${ED25519_KEY}`)
  })

  it('takes Nix\'s error lines, or its last line when it printed no error', () => {
    expect(nixError('copying 1 paths...\nerror: boom\n       because\n')).toBe('error: boom because')
    expect(nixError('ssh: connect to host x port 22: Connection refused\n')).toBe('ssh: connect to host x port 22: Connection refused')
  })
})
