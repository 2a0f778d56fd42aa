import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'

// A store path as Nix prints it: the store, 32 base-32 characters, a name.
const DRV_PATH = /^\/nix\/store\/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]{1,211}\.drv$/
// `Derive([("out","/nix/store/...","",""),...` : the outputs come first in a .drv's ATerm.
const OUTPUT = /\("[A-Za-z0-9_-]+","(\/nix\/store\/[^"]+)","[^"]*","[^"]*"\)/g
// Only an input derivation is a quoted store path followed by its list of outputs.
const INPUT_DRV = /\("(\/nix\/store\/[0-9a-df-np-sv-z]{32}-[^"]+\.drv)",[[(]/g
const FEATURES = /\("requiredSystemFeatures","([^"]*)"\)/
// Derive([outputs],[input derivations],[input sources],"system",...: no `],"` comes before the
// sources' end, as outputs and input derivations end each item in `)`.
const SYSTEM = /\],"([^"\\]+)","/

export function isDrvPath (path: string): boolean {
  return DRV_PATH.test(path)
}

/** A store path's name: what follows its hash (`hello-2.12.drv`). */
export function storeName (path: string): string {
  return path.replace(/^.*\/[0-9a-z]{32}-/, '')
}

/**
 * Where Nix's worker puts a derivation's goal in each round of goals it wakes: by the name in
 * its path, then the whole path (`DerivationGoal::key`, "b$NAME$PATH"; every character a name
 * may hold sorts after "$", so comparing these strings orders goals as Nix does).
 */
export function goalKey (drvPath: string): string {
  return `${storeName(drvPath)}$${drvPath}`
}

/** What the planner reads from a .drv file. */
export interface DerivationFacts {
  /** The output paths it will produce; none when they are not fixed in advance. */
  outputs: string[]
  /** The derivations it is built from. */
  inputDrvs: string[]
  requiredFeatures: string[]
  /** The system it is built for, if the file says. */
  system?: string
}

/** A .drv file's ATerm text, as much of it as the planner needs. */
export function parseDerivation (text: string): DerivationFacts {
  const head = text.slice(0, text.indexOf(')],') + 1)
  const system = SYSTEM.exec(text)?.[1]
  return {
    outputs: [...head.matchAll(OUTPUT)].map((m) => m[1] ?? '').filter((p) => p !== ''),
    inputDrvs: [...text.matchAll(INPUT_DRV)].map((m) => m[1] ?? '').filter(isDrvPath),
    requiredFeatures: (FEATURES.exec(text)?.[1] ?? '').split(' ').filter((f) => f !== ''),
    ...(system === undefined ? {} : { system })
  }
}

/** `fileOf` maps a store path to the file that holds it: itself, unless the store is elsewhere (tests). */
export async function readDerivation (drvPath: string, fileOf: (path: string) => string = (p) => p): Promise<DerivationFacts> {
  return parseDerivation(await readFile(fileOf(drvPath), 'utf8'))
}

/** The output paths a derivation will produce, or none when they are not fixed in advance. */
export async function derivationOutputs (drvPath: string): Promise<string[]> {
  return (await readDerivation(drvPath)).outputs
}

/**
 * Whether a store path (a build's output) is there. Asked for every running build at every
 * request of Nix's: a local stat takes microseconds, where the promise API costs a trip to
 * libuv's thread pool and, for a path not built yet, an error object.
 */
export async function storePathExists (path: string): Promise<boolean> {
  return existsSync(path)
}
