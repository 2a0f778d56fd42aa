import { appendFileSync, writeSync } from 'node:fs'
import { readSettings, readTry } from '../../../../cli/build-hook/messages.ts'
import { WireReader } from '../../../../cli/build-hook/protocol.ts'

/*
 * A stand-in for Nix's `build-remote`, speaking its protocol. What it answers depends on the
 * first host in its `builders` setting; it appends what it was sent to $FAKE_RECORD as JSON lines.
 *   10.0.0.1  accepts, reads inputs and outputs, writes to the build log (fd 4), exits $FAKE_EXIT
 *   10.0.0.5  the same, then exits 1 as when the builder is lost mid-build
 *   10.0.0.2  declines   10.0.0.3  postpones   10.0.0.4  exits 3 without answering
 *   anything else (Nix's own list): postpones every request
 */

const record = (entry: object): void => { appendFileSync(process.env.FAKE_RECORD!, `${JSON.stringify(entry)}\n`) }
const say = (text: string): void => { writeSync(2, text) }

const reader = new WireReader(process.stdin)
const settings = await readSettings(reader)
const builders = settings.find((s) => s.name === 'builders')?.value.toString() ?? ''
record({ argv: process.argv.slice(2), builders, settings: settings.length })
const host = /@([0-9.]+)/.exec(builders)?.[1]

for (;;) {
  const request = await readTry(reader)
  if (request === null) break
  record({ try: request })
  say('plain line from the fake\n')
  if (host === '10.0.0.1' || host === '10.0.0.5') {
    say('@nix {"action":"msg","level":1,"msg":"fake: connecting"}\n# accept\n')
    // The store line comes apart from the answer, as it may from Nix's own hook.
    await new Promise((resolve) => setTimeout(resolve, 20))
    say(`ssh-ng://root@${host}\n`)
    const inputs = await reader.readStrings()
    const outputs = await reader.readStrings()
    record({ inputs, outputs, stdinEnded: await reader.atEnd() })
    try {
      writeSync(4, 'build log from the fake\n')
    } catch {}
    if (host === '10.0.0.5') {
      say('error: fake: the connection to 10.0.0.5 was lost\n')
      process.exit(1)
    }
    say('@nix {"action":"msg","level":0,"msg":"fake: built"}\n')
    process.exit(Number(process.env.FAKE_EXIT ?? 0))
  } else if (host === '10.0.0.2') {
    say('# decline\n')
  } else if (host === '10.0.0.3') {
    say('# postpone\n')
  } else if (host === '10.0.0.4') {
    process.exit(3)
  } else {
    say('# postpone\n')
  }
}
record({ ended: true })
