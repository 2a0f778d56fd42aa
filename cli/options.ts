import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { InvalidFieldError, UsageError } from '../common/errors.ts'

export type OptionKind = 'string' | 'boolean' | 'integer' | 'number' | 'list'

/** One option of a command: its flag, its config-file key, how to read it, and its help. */
export interface OptionSpec {
  flag: string
  kind: OptionKind
  help: string
  /** Name of the value in --help, e.g. PATH. */
  arg?: string
  /** What the default is, in words, when it is not a constant. */
  defaultText?: string
  min?: number
  max?: number
  /** Read from this environment variable when neither flag nor config file gives it. */
  env?: string
  /** Checks a value further; throws Error with a short reason. */
  check?: (value: unknown) => void
}

export type OptionValues = Record<string, unknown>

/** `nix-machines` -> `nixMachines`: the key of a flag in a config file. */
export function configKey (flag: string): string {
  return flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())
}

function convert (spec: OptionSpec, raw: unknown, origin: string): unknown {
  const fail = (why: string): never => { throw new UsageError(`${origin}: ${why}`) }
  switch (spec.kind) {
    case 'boolean':
      if (typeof raw !== 'boolean') fail('expects true or false')
      return raw
    case 'string':
      if (typeof raw !== 'string' || raw === '') fail('expects a non-empty string')
      return raw
    case 'list': {
      const items = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : fail('expects a comma-separated list')
      const list = items.map((i) => typeof i === 'string' ? i.trim() : fail('expects strings')).filter((i) => i !== '')
      return list
    }
    case 'integer':
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN
      if (!Number.isFinite(n) || (spec.kind === 'integer' && !Number.isInteger(n))) fail(`expects ${spec.kind === 'integer' ? 'a whole number' : 'a number'}, got ${JSON.stringify(raw)}`)
      if (spec.min !== undefined && n < spec.min) fail(`must be at least ${spec.min}`)
      if (spec.max !== undefined && n > spec.max) fail(`must be at most ${spec.max}`)
      return n
    }
  }
}

function checked (spec: OptionSpec, value: unknown, origin: string): unknown {
  const converted = convert(spec, value, origin)
  try {
    spec.check?.(converted)
  } catch (err) {
    const reason = err instanceof InvalidFieldError ? err.message.slice(err.field.length + 2) : (err as Error).message
    throw new UsageError(`${origin}: ${reason}`)
  }
  return converted
}

/** Reads a JSON config file whose keys are the options' config keys. */
export async function readConfigFile (path: string, specs: OptionSpec[]): Promise<OptionValues> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new UsageError(`--config ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`--config ${path}: not valid JSON (${(err as Error).message})`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`--config ${path}: expects a JSON object`)
  const byKey = new Map(specs.filter((s) => s.flag !== 'config').map((s) => [configKey(s.flag), s]))
  const values: OptionValues = {}
  for (const [key, value] of Object.entries(parsed)) {
    const spec = byKey.get(key)
    if (spec === undefined) throw new UsageError(`--config ${path}: unknown key "${key}" (known: ${[...byKey.keys()].join(', ')})`)
    values[key] = checked(spec, value, `${path}: ${key}`)
  }
  return values
}

/**
 * Flags over config file over environment: the values the caller gave, by config key.
 * Defaults are the command's business: an absent key means "not given".
 */
export async function parseOptions (argv: string[], specs: OptionSpec[], env: NodeJS.ProcessEnv = process.env): Promise<{ values: OptionValues, positionals: string[] }> {
  const parsed = (() => {
    try {
      return parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: Object.fromEntries(specs.map((s) => [s.flag, { type: s.kind === 'boolean' ? 'boolean' as const : 'string' as const }]))
      })
    } catch (err) {
      throw new UsageError((err as Error).message.split('\n')[0] ?? 'bad arguments')
    }
  })()
  const fromFile = typeof parsed.values.config === 'string' ? await readConfigFile(parsed.values.config, specs) : {}
  const values: OptionValues = {}
  for (const spec of specs) {
    const key = configKey(spec.flag)
    const flagValue = parsed.values[spec.flag]
    const envValue = spec.env === undefined ? undefined : env[spec.env]
    if (flagValue !== undefined) values[key] = checked(spec, flagValue, `--${spec.flag}`)
    else if (key in fromFile) values[key] = fromFile[key]
    else if (envValue !== undefined && envValue !== '') values[key] = checked(spec, envValue, spec.env ?? key)
  }
  return { values, positionals: parsed.positionals }
}

/** The option list of a command's --help. */
export function formatOptions (specs: OptionSpec[]): string {
  const rows = specs.map((s) => {
    const left = `  --${s.flag}${s.kind === 'boolean' ? '' : ` ${s.arg ?? (s.kind === 'list' ? 'A,B' : s.kind === 'string' ? 'VALUE' : 'N')}`}`
    const extras = [s.defaultText === undefined ? '' : `default: ${s.defaultText}`, s.env === undefined ? '' : `env ${s.env}`].filter((e) => e !== '')
    return [left, `${s.help}${extras.length > 0 ? ` (${extras.join('; ')})` : ''}`] as const
  })
  const width = Math.max(...rows.map(([l]) => l.length)) + 2
  return rows.map(([l, r]) => `${l.padEnd(width)}${r}`).join('\n')
}
