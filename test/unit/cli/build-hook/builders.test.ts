import { describe, expect, it } from 'vitest'
import { builderEntries, builderScope, machineCapabilities, machineHost, storeUri, type ReadText } from '../../../../cli/build-hook/builders.ts'

const line1 = 'ssh-ng://root@10.77.0.2 x86_64-linux /k 2 1 - - AAAA'
const line2 = 'ssh-ng://root@10.77.0.3 x86_64-linux /k 4 2 kvm - BBBB'

function files (map: Record<string, string>): ReadText {
  return async (path) => map[path] ?? null
}

/** Every machine line a setting that does not name the agent's file stands for. */
async function machineLines (value: string, read: ReadText): Promise<string[]> {
  const scope = await builderScope(value, '/var/lib/buildmesh/nix-machines', read)
  return scope.kind === 'hosts' ? scope.lines : []
}

describe('the builders setting', () => {
  it('splits on newlines and ;, trims, drops comments and blanks, as Nix 2.8 does', () => {
    expect(builderEntries(`${line1} ; ${line2}`)).toEqual([{ line: line1 }, { line: line2 }])
    expect(builderEntries(`  ${line1}  # the first\n\n   \n# all comment\n@ /etc/nix/machines \n`)).toEqual([{ line: line1 }, { file: '/etc/nix/machines' }])
    expect(builderEntries('')).toEqual([])
  })

  it('reads @files, nested ones too; a missing file stands for no machines', async () => {
    const read = files({ '/a': `${line1}\n@/b\n@/missing\n`, '/b': `${line2}\n` })
    expect(await machineLines(`@/a;${line1}`, read)).toEqual([line1, line2, line1])
    expect(await machineLines('@/missing', read)).toEqual([])
  })

  it('gives up on a file that names itself', async () => {
    await expect(machineLines('@/loop', files({ '/loop': '@/loop' }))).rejects.toThrow(/nest deeper than 8/)
  })

  it.each([
    ['ssh-ng://root@10.77.0.2 x86_64-linux', '10.77.0.2'],
    ['ssh://nix@builder.lan', 'builder.lan'],
    ['ssh-ng://root@[fe80::1] x86_64-linux', 'fe80::1'],
    ['ssh-ng://root@10.0.0.5:2222?compress=true', '10.0.0.5'],
    ['root@10.0.0.6 x86_64-linux', '10.0.0.6'],
    ['10.0.0.7\tx86_64-linux', '10.0.0.7'],
    ['http://cache.example x86_64-linux', null],
    ['local x86_64-linux', null],
    ['/mnt/store x86_64-linux', null],
    ['ssh-ng:// x86_64-linux', null]
  ])('host of %j is %j', (line, host) => {
    expect(machineHost(line)).toBe(host)
  })

  it.each([
    ['ssh-ng://root@10.77.0.2 x86_64-linux /k 2', 'ssh-ng://root@10.77.0.2'],
    ['root@10.0.0.6\tx86_64-linux', 'ssh://root@10.0.0.6']
  ])('store of %j, as Nix names it after an accept, is %j', (line, uri) => {
    expect(storeUri(line)).toBe(uri)
  })

  it('leaves the choice to the agent when the setting names its file, with the other entries\' machines besides', async () => {
    const read = files({ '/var/lib/buildmesh/nix-machines': `${line1}\n`, '/etc/nix/machines': `${line2}\n` })
    expect(await builderScope('@/var/lib/buildmesh/nix-machines', '/var/lib/buildmesh/nix-machines', read)).toEqual({ kind: 'agent', outside: [] })
    expect(await builderScope(' @/var/lib/buildmesh/../buildmesh/nix-machines # ours', '/var/lib/buildmesh/nix-machines', read)).toEqual({ kind: 'agent', outside: [] })
    expect(await builderScope(`@/var/lib/buildmesh/nix-machines;@/etc/nix/machines;http://cache x86_64-linux`, '/var/lib/buildmesh/nix-machines', read))
      .toEqual({ kind: 'agent', outside: [line2, 'http://cache x86_64-linux'] })
  })

  it('limits remote builds to the machines of any other setting', async () => {
    const read = files({ '/etc/nix/machines': `${line2}\n` })
    expect(await builderScope('@/etc/nix/machines', '/var/lib/buildmesh/nix-machines', read)).toEqual({ kind: 'hosts', hosts: ['10.77.0.3'], lines: [line2] })
    expect(await builderScope(`${line1};${line1};http://cache x86_64-linux`, '/var/lib/buildmesh/nix-machines', read))
      .toEqual({ kind: 'hosts', hosts: ['10.77.0.2'], lines: [line1, line1, 'http://cache x86_64-linux'] })
    expect(await builderScope('', '/var/lib/buildmesh/nix-machines', read)).toEqual({ kind: 'hosts', hosts: [], lines: [] })
  })

  it('reads what a machine line builds, with Nix\'s defaults for empty and - columns', () => {
    expect(machineCapabilities(line2, 'aarch64-linux')).toEqual({ systems: ['x86_64-linux'], supportedFeatures: ['kvm'], mandatoryFeatures: [] })
    expect(machineCapabilities('ssh://a x86_64-linux,i686-linux - 1 1 big-parallel,kvm benchmark', 'x86_64-linux'))
      .toEqual({ systems: ['x86_64-linux', 'i686-linux'], supportedFeatures: ['big-parallel', 'kvm'], mandatoryFeatures: ['benchmark'] })
    expect(machineCapabilities('ssh://a', 'aarch64-linux')).toEqual({ systems: ['aarch64-linux'], supportedFeatures: [], mandatoryFeatures: [] })
    expect(machineCapabilities('ssh://a - - 1 1 - -', 'aarch64-linux')).toEqual({ systems: ['aarch64-linux'], supportedFeatures: [], mandatoryFeatures: [] })
  })
})
