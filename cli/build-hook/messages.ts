import { encodeInt, encodeString, encodeStrings, WireError, type WireReader } from './protocol.ts'

/**
 * What Nix writes to its build hook's stdin (Nix 2.8: src/libstore/build/hook-instance.cc and
 * DerivationGoal::tryBuildHook): its settings once, then one `try` per derivation it would like
 * built elsewhere, until the hook accepts one.
 */

/** One of the parent's settings. Values stay bytes so that handing them on changes nothing. */
export interface Setting {
  name: string
  value: Buffer
}

export interface TryRequest {
  /** Nix has a free local slot: it would build locally if the hook declined. */
  amWilling: boolean
  system: string
  drvPath: string
  requiredFeatures: string[]
}

/** Far more than Nix has (about 100 settings in 2.8); bounds what a broken parent can make us hold. */
const MAX_SETTINGS = 10_000
const MAX_SETTINGS_BYTES = 64 * 1024 * 1024

/** `1, name, value` per setting, then `0`. */
export async function readSettings (reader: WireReader): Promise<Setting[]> {
  const settings: Setting[] = []
  let bytes = 0
  for (;;) {
    const marker = await reader.readInt()
    if (marker === 0) return settings
    if (marker !== 1) throw new WireError(`expected 1 or 0 before a setting, got ${marker}`)
    if (settings.length === MAX_SETTINGS) throw new WireError(`more than ${MAX_SETTINGS} settings`)
    const name = await reader.readString()
    const value = await reader.readBytes()
    bytes += name.length + value.length
    if (bytes > MAX_SETTINGS_BYTES) throw new WireError(`settings over ${MAX_SETTINGS_BYTES} bytes`)
    settings.push({ name, value })
  }
}

export function encodeSettings (settings: readonly Setting[]): Buffer {
  return Buffer.concat([...settings.flatMap((s) => [encodeInt(1), encodeString(s.name), encodeString(s.value)]), encodeInt(0)])
}

export function settingValue (settings: readonly Setting[], name: string): string | undefined {
  return settings.find((s) => s.name === name)?.value.toString()
}

/** The same settings with one value replaced (or added). */
export function withSetting (settings: readonly Setting[], name: string, value: string): Setting[] {
  const replaced = { name, value: Buffer.from(value) }
  return settings.some((s) => s.name === name)
    ? settings.map((s) => s.name === name ? replaced : s)
    : [...settings, replaced]
}

/**
 * The next request, or null when Nix is done with this hook: the stream ended, or a word other
 * than `try` came (Nix's own hook exits 0 on both).
 */
export async function readTry (reader: WireReader): Promise<TryRequest | null> {
  if (await reader.atEnd()) return null
  if (await reader.readString() !== 'try') return null
  const amWilling = await reader.readInt() !== 0
  const system = await reader.readString()
  const drvPath = await reader.readString()
  const requiredFeatures = await reader.readStrings()
  return { amWilling, system, drvPath, requiredFeatures }
}

export function encodeTry (request: TryRequest): Buffer {
  return Buffer.concat([
    encodeString('try'),
    encodeInt(request.amWilling ? 1 : 0),
    encodeString(request.system),
    encodeString(request.drvPath),
    encodeStrings(request.requiredFeatures)
  ])
}
