import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { sshConfigHostName, sshDestinations } from '../../../../cli/build-hook/ssh-destinations.ts'

describe('what ssh connects to for the hosts of machine lines', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ssh-destinations-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads HostName from the configuration ssh itself reads, with the options Nix gives ssh', async () => {
    const config = join(dir, 'config')
    await writeFile(config, 'Host kana\n  HostName 192.168.1.20\nHost *.builders\n  HostName %h.example.org\n')
    const hostName = sshConfigHostName({ ...process.env, NIX_SSHOPTS: ` -F ${config}  -o ConnectTimeout=3 ` })
    expect(await hostName('kana')).toBe('192.168.1.20')
    expect(await hostName('x.builders')).toBe('x.builders.example.org')
    // A host no entry names is connected to as it is, lowercased as ssh lowercases it.
    expect(await hostName('Ruby')).toBe('ruby')
  })

  it('answers null when ssh cannot tell', async () => {
    expect(await sshConfigHostName({ ...process.env, NIX_SSHOPTS: `-F ${join(dir, 'missing')}` })('kana')).toBeNull()
  })

  it('keeps only the hosts ssh knows by another name, and never gives ssh an address, an option or a strange name', async () => {
    const asked: string[] = []
    const destinations = await sshDestinations(['kana', 'Ruby', '10.0.0.7', 'fe80::1', '-oProxyCommand=x', 'a b', 'kana', 'gone', 'broken'], async (host) => {
      asked.push(host)
      if (host === 'broken') throw new Error('spawn ssh ENOENT')
      return { kana: '10.0.0.2', Ruby: 'ruby', gone: null }[host] ?? null
    })
    expect(destinations).toEqual({ kana: '10.0.0.2' })
    expect(asked.sort()).toEqual(['Ruby', 'broken', 'gone', 'kana'])
  })
})
