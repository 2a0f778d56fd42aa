import { machine, release } from 'node:os'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { PeerCheck } from '../../cli/checks/check-builder.ts'
import type { PeerStatus } from '../../cli/checks/status-table.ts'
import { useLan, waitFor, type Host } from './harness/index.ts'
import {
  addBuildUser, BUILD_USER, hideNixFromSshSessions, mountSmallStore, regenerateHostKey, startNixDaemon, startSkewedBuilder
} from './support/builder-faults.ts'
import { builderSshd, makeMeshKey, MESH, peersOf, startBuilder, startMaster } from './support/mesh.ts'

const SKEW_MS = 10_000

async function mesh (host: Host, args: string[]): Promise<{ code: number | null, stdout: string }> {
  const { code, stdout } = await host.run(process.execPath, [MESH, ...args], { allowFailure: true })
  return { code, stdout }
}

/** The failing step's line and the advice under it, as `mesh test NAME` prints them. */
function failure (stdout: string): { line: string, advice: string } {
  const lines = stdout.split('\n')
  const at = lines.findIndex((l) => l.startsWith('  FAIL'))
  return { line: lines[at] ?? '', advice: lines[at + 1] ?? '' }
}

/**
 * `mesh test` and `mesh status` on a master with nine real builders: one healthy, one with a
 * skewed clock (healthy otherwise), and seven each broken in one real way.
 */
describe('mesh test and mesh status on a LAN', () => {
  const names = ['ok', 'nosshd', 'rekeyed', 'nokey', 'nopath', 'untrusted', 'full', 'narrow', 'skewed'] as const
  const lan = useLan({ hosts: ['m', ...names] })

  it('passes a healthy builder, names each broken one\'s fault and fix, and shows a skewed clock', async () => {
    const startedAt = Date.now()
    const meshKey = await makeMeshKey(lan)
    const m = lan.host('m')
    const host = (name: typeof names[number]): Host => lan.host(name)
    await startMaster(m, { meshKey })

    await addBuildUser(host('untrusted'))
    await startNixDaemon(host('untrusted'))
    // The agent measures free disk where the store is when it starts: make it be there.
    await mkdir(host('full').pathOnMachine('/nix/store'), { recursive: true })
    await Promise.all([
      ...(['ok', 'nosshd', 'rekeyed', 'nokey', 'nopath', 'full', 'narrow'] as const).map(async (n) => await startBuilder(host(n), { meshKey })),
      startBuilder(host('untrusted'), { meshKey, args: ['--ssh-user', BUILD_USER.name] }),
      startSkewedBuilder(host('skewed'), meshKey, SKEW_MS)
    ])
    await waitFor(async () => {
      const peers = await peersOf(m)
      const keys = await Promise.all(names.map(async (n) => await readFile(join(host(n).dir, 'authorized_keys'), 'utf8').catch(() => '')))
      return peers.filter((p) => p.trusted && p.statusAgeSeconds !== null).length === names.length && keys.every((k) => k.includes('buildmesh:'))
    }, { timeoutMs: 20_000, what: 'all builders trusted, with a status, and the master\'s key in each authorized_keys' })
    const readyAt = Date.now()

    await (await builderSshd(host('nosshd'))).process.stop()
    await regenerateHostKey(host('rekeyed'))
    await writeFile(join(host('nokey').dir, 'authorized_keys'), '')
    // The master's line narrowed to the legacy ssh:// protocol, which ssh-ng:// cannot speak.
    const narrowKeys = join(host('narrow').dir, 'authorized_keys')
    await writeFile(narrowKeys, (await readFile(narrowKeys, 'utf8')).replace('command="nix-daemon --stdio"', 'command="nix-store --serve --write"'))
    await hideNixFromSshSessions(host('nopath'))
    await mountSmallStore(host('full'), 32)
    await waitFor(async () => ((await peersOf(m)).find((p) => p.name === 'full')?.freeDiskBytes ?? Infinity) < 100 * 1024 * 1024,
      { what: 'the small store\'s free space in the master\'s view' })

    const checkedAt = Date.now()
    const all = await mesh(m, ['test', '--json'])
    const allTookMs = Date.now() - checkedAt
    expect(all.code).toBe(1)
    const checks = JSON.parse(all.stdout) as PeerCheck[]
    const verdict = Object.fromEntries(checks.map((c) => [c.name, c.steps.map((s) => `${s.step}:${s.status}`).join(' ')]))
    const allPass = 'reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:pass disk:pass'
    const failures = checks.flatMap((c) => c.steps.filter((s) => s.status === 'fail').map((s) => `${c.name} ${s.step}: ${s.detail}`))
    expect(verdict, failures.join('\n')).toEqual({
      ok: allPass,
      skewed: allPass,
      nosshd: 'reachable:fail host-key:skip login:skip daemon:skip trusted:skip copy:skip disk:pass',
      rekeyed: 'reachable:pass host-key:fail login:skip daemon:skip trusted:skip copy:skip disk:pass',
      nokey: 'reachable:pass host-key:pass login:fail daemon:skip trusted:skip copy:skip disk:pass',
      nopath: 'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass',
      // An untrusted user may still copy content-addressed paths such as the check's text file.
      untrusted: 'reachable:pass host-key:pass login:pass daemon:pass trusted:fail copy:pass disk:pass',
      full: 'reachable:pass host-key:pass login:pass daemon:pass trusted:pass copy:pass disk:fail',
      narrow: 'reachable:pass host-key:pass login:pass daemon:fail trusted:skip copy:skip disk:pass'
    })

    const healthy = await mesh(m, ['test', '^ok$'])
    expect(healthy.code).toBe(0)
    expect(healthy.stdout).toMatch(/^ {2}ok {4}store daemon answers: Nix 2\.8\.0 daemon, protocol 1\.34$/m)
    expect(healthy.stdout).toMatch(/^ {2}ok {4}store path copies there and back: \/nix\/store\/[0-9a-z]{32}-buildmesh-check went there and came back$/m)
    expect(healthy.stdout.trimEnd().split('\n').at(-1)).toBe('1 builder tested: 1 passed, 0 failed')

    const addressOf = (n: typeof names[number]): string => host(n).address.replaceAll('.', '\\.')
    const expected: Array<[typeof names[number], RegExp, RegExp]> = [
      ['nosshd', new RegExp(`SSH reachable: nothing listens on ${addressOf('nosshd')}:22 \\(connection refused\\)$`), /Start sshd on the builder/],
      ['rekeyed', /host key matches the pinned one: sshd at \S+ offers SHA256:\S+, but the builder's agent reported SHA256:\S+$/, /restart its agent so that it reports the new one/],
      ['nokey', /login with the master's key: sshd refused this master's key for root \(All configured authentication methods failed\)$/, /Let the builder's agent add this master's key again/],
      ['nopath', /store daemon answers: nix-daemon is not on root's PATH there: "bash: line 1: nix-daemon: command not found"$/, /Put nix-daemon on the PATH that sshd gives root's non-interactive sessions/],
      ['untrusted', new RegExp(`SSH user trusted by the store: the builder's nix-daemon does not trust ${BUILD_USER.name}$`), new RegExp(`Add ${BUILD_USER.name} to trusted-users in the builder's nix\\.conf`)],
      ['full', /free disk over the threshold: only \d+ MiB free on the builder's store \(needs 100 MiB\)$/, /Free space on the builder's store/],
      ['narrow', /store daemon answers: sshd runs another command than nix-daemon --stdio for this master's key: "error: protocol mismatch"$/, /Widen this master's line in the builder's authorized_keys to restrict,command="nix-daemon --stdio"/]
    ]
    const runs = await Promise.all(expected.map(async ([name]) => await mesh(m, ['test', `^${name}$`])))
    for (const [i, [name, line, advice]] of expected.entries()) {
      const run = runs[i]!
      expect(run.code, name).toBe(1)
      const found = failure(run.stdout)
      expect(found.line, name).toMatch(/^ {2}FAIL {2}/)
      expect(found.line, name).toMatch(line)
      expect(found.advice, name).toMatch(/^ {8}fix: [A-Z][^\n]*\.$/)
      expect(found.advice, name).toMatch(advice)
      expect(run.stdout.trimEnd().split('\n').at(-1), name).toBe(`1 builder tested: 0 passed, 1 failed (${name})`)
    }

    const statuses = JSON.parse((await mesh(m, ['status', '--json'])).stdout) as PeerStatus[]
    const skewed = statuses.find((s) => s.name === 'skewed')
    expect(skewed?.clockOffsetMs).toBeGreaterThan(SKEW_MS - 1000)
    expect(skewed?.clockOffsetMs).toBeLessThan(SKEW_MS + 1000)
    expect(skewed?.clockWarning).toMatch(/^skewed's clock is \d+\.\d s ahead of this master's/)
    const ok = statuses.find((s) => s.name === 'ok')
    expect(ok).toMatchObject({ hostName: 'ok', kernel: release(), arch: machine(), version: '0.1.0', clockWarning: null, trusted: true })
    expect(Math.abs(ok?.clockOffsetMs ?? Infinity)).toBeLessThan(1000)

    const table = (await mesh(m, ['status'])).stdout
    expect(table).toMatch(/^NAME\s+HOST\s+KERNEL\s+ARCH\s+LOAD\s+FREE\s+SLOTS\s+CLOCK\s+VERSION\s+STATUS$/m)
    expect(table).toMatch(/^skewed\s+skewed\s+\S+\s+\S+\s+\d\.\d\d\s+\S+G\s+\d+\/\d+\s+\+(9|10)\.\ds!\s+0\.1\.0\s+\d+\.\ds$/m)
    expect(table).toMatch(/^warning: skewed's clock is (9|10)\.\d s ahead of this master's \(more than 5\.0 s\): a skewed clock breaks signatures/m)
    expect(table).not.toMatch(/^warning: (?!skewed)/m)

    console.info(`builders ready after ${readyAt - startedAt} ms; mesh test of all nine took ${allTookMs} ms; whole test ${Date.now() - startedAt} ms`)
  })
})
