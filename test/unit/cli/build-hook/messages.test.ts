import { describe, expect, it } from 'vitest'
import { encodeSettings, encodeTry, readSettings, readTry, settingValue, withSetting } from '../../../../cli/build-hook/messages.ts'
import { encodeInt, encodeString, WireReader } from '../../../../cli/build-hook/protocol.ts'

async function * once (bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes
}

const settings = [
  { name: 'builders', value: Buffer.from('@/var/lib/buildmesh/nix-machines') },
  { name: 'max-jobs', value: Buffer.from('2') },
  { name: 'odd', value: Buffer.from([0xff, 0x00, 0x0a]) }
]

describe('hook messages', () => {
  it('reads settings as Nix writes them (1, name, value ... 0) and writes them back byte for byte', async () => {
    const bytes = Buffer.concat([
      encodeInt(1), encodeString('builders'), encodeString('@/var/lib/buildmesh/nix-machines'),
      encodeInt(1), encodeString('max-jobs'), encodeString('2'),
      encodeInt(1), encodeString('odd'), encodeString(Buffer.from([0xff, 0x00, 0x0a])),
      encodeInt(0)
    ])
    const read = await readSettings(new WireReader(once(bytes)))
    expect(read).toEqual(settings)
    expect(encodeSettings(read).equals(bytes)).toBe(true)
    expect(settingValue(read, 'max-jobs')).toBe('2')
    expect(settingValue(read, 'nope')).toBeUndefined()
  })

  it('replaces one setting and leaves the others', () => {
    const replaced = withSetting(settings, 'builders', 'ssh-ng://root@10.0.0.1 x86_64-linux - 2 1 - - -')
    expect(replaced.map((s) => [s.name, s.value.toString('latin1')])).toEqual([
      ['builders', 'ssh-ng://root@10.0.0.1 x86_64-linux - 2 1 - - -'], ['max-jobs', '2'], ['odd', '\xff\x00\n']
    ])
    expect(withSetting([], 'builders', 'x')).toEqual([{ name: 'builders', value: Buffer.from('x') }])
  })

  it('refuses a marker other than 0 or 1', async () => {
    await expect(readSettings(new WireReader(once(encodeInt(2))))).rejects.toThrow(/expected 1 or 0 before a setting, got 2/)
  })

  it('reads a try request and writes the same bytes back', async () => {
    const bytes = Buffer.concat([encodeString('try'), encodeInt(1), encodeString('x86_64-linux'), encodeString('/nix/store/abc-j.drv'), encodeInt(2), encodeString('bar'), encodeString('foo')])
    const request = await readTry(new WireReader(once(bytes)))
    expect(request).toEqual({ amWilling: true, system: 'x86_64-linux', drvPath: '/nix/store/abc-j.drv', requiredFeatures: ['bar', 'foo'] })
    expect(encodeTry(request!).equals(bytes)).toBe(true)
  })

  it('ends on end of stream or on a word other than try, as Nix\'s own hook does', async () => {
    expect(await readTry(new WireReader(once(Buffer.alloc(0))))).toBeNull()
    expect(await readTry(new WireReader(once(encodeString('quit'))))).toBeNull()
  })
})
