import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { encodeSettings, encodeTry, type TryRequest } from '../../../../cli/build-hook/messages.ts'

/** Helpers for driving the build hook as Nix would, with fake-build-remote.ts as Nix's own hook. */

export interface FakeHook {
  dir: string
  /** An executable that runs fake-build-remote.ts with the Node running the tests. */
  script: string
  record: string
  records: () => Promise<Array<Record<string, unknown>>>
}

export async function makeFakeHook (): Promise<FakeHook> {
  const dir = await mkdtemp(join(tmpdir(), 'buildmesh-hook-'))
  const script = join(dir, 'build-remote')
  const record = join(dir, 'record.jsonl')
  await writeFile(script, `#!/bin/sh\nexec '${process.execPath}' '${join(import.meta.dirname, 'fake-build-remote.ts')}' "$@"\n`)
  await chmod(script, 0o755)
  const records = async (): Promise<Array<Record<string, unknown>>> =>
    (await readFile(record, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>)
  return { dir, script, record, records }
}

/** Settings as Nix sends them: a few of Nix's own around `builders`. */
export function nixSettings (builders: string, more: Record<string, string> = {}): Buffer {
  return encodeSettings([
    { name: 'build-hook', value: Buffer.from('/usr/libexec/mesh-build-hook') },
    { name: 'builders', value: Buffer.from(builders) },
    { name: 'max-jobs', value: Buffer.from('1') },
    ...Object.entries(more).map(([name, value]) => ({ name, value: Buffer.from(value) }))
  ])
}

export function nixTry (n: number, amWilling = true): { request: TryRequest, bytes: Buffer } {
  const request = { amWilling, system: 'x86_64-linux', drvPath: `/nix/store/${String(n).padStart(32, '0')}-job-${n}.drv`, requiredFeatures: [] }
  return { request, bytes: encodeTry(request) }
}

/** Collects what the hook writes for Nix, and waits for text to appear in it. */
export class Collector extends Writable {
  text = ''
  private waiters: Array<() => void> = []

  override _write (chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString()
    for (const wake of this.waiters.splice(0)) wake()
    done()
  }

  async waitFor (text: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!this.text.includes(text)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${JSON.stringify(text)} in ${JSON.stringify(this.text)}`)
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }
}
