import { dirname, resolve } from 'node:path'
import type { ProbeDeps } from './deps.ts'

/** One setting as the config files leave it: replaced by `name = ...`, appended by `extra-name = ...`. */
export interface NixConfValue {
  /** The last `name = ...` value; undefined keeps Nix's default. */
  set: string | undefined
  /** Words from `extra-name = ...` lines after that, to append to the value. */
  extra: string[]
}

// Nix itself gives up on deeper nesting only by running out of stack; a cycle must not hang us.
const MAX_INCLUDE_DEPTH = 16

/**
 * Reads the settings named in `names` from a nix.conf the way Nix does: `#` starts a comment
 * anywhere, lines are `name = words...`, `include FILE` and `!include FILE` (missing is fine)
 * read another file at that point, relative to the including file. A setting name wins over the
 * `extra-` form, so `extra-platforms` is a setting and `extra-extra-platforms` appends to it.
 * Resolves null when the file does not exist. Lines Nix would reject are skipped with a warning.
 */
export async function readNixConf (
  deps: Pick<ProbeDeps, 'readFile' | 'exists' | 'log'>,
  path: string,
  names: readonly string[]
): Promise<Map<string, NixConfValue> | null> {
  if (!await deps.exists(path)) return null
  const values = new Map<string, NixConfValue>()
  await applyFile(deps, path, names, values, 0)
  return values
}

async function applyFile (
  deps: Pick<ProbeDeps, 'readFile' | 'exists' | 'log'>,
  path: string,
  names: readonly string[],
  values: Map<string, NixConfValue>,
  depth: number
): Promise<void> {
  if (depth > MAX_INCLUDE_DEPTH) {
    deps.log.warn({ path }, 'nix.conf includes nest too deep; ignoring the rest')
    return
  }
  let text: string
  try {
    text = await deps.readFile(path)
  } catch (err) {
    deps.log.warn({ path, err }, 'cannot read Nix config file')
    return
  }
  for (const line of text.split('\n')) {
    const tokens = line.replace(/#.*/, '').split(/[ \t\r]+/).filter((token) => token !== '')
    if (tokens.length === 0) continue
    const [keyword, second] = tokens
    if (keyword === 'include' || keyword === '!include') {
      if (tokens.length !== 2 || second === undefined) {
        deps.log.warn({ path, line }, 'ignoring a malformed include line in Nix config')
        continue
      }
      const included = resolve(dirname(path), second)
      if (await deps.exists(included)) {
        await applyFile(deps, included, names, values, depth + 1)
      } else if (keyword === 'include') {
        deps.log.warn({ path, included }, 'Nix config includes a file that does not exist')
      }
      continue
    }
    if (keyword === undefined || second !== '=') {
      deps.log.warn({ path, line }, 'ignoring a malformed line in Nix config')
      continue
    }
    applySetting(values, names, keyword, tokens.slice(2))
  }
}

function applySetting (values: Map<string, NixConfValue>, names: readonly string[], name: string, words: string[]): void {
  if (names.includes(name)) {
    values.set(name, { set: words.join(' '), extra: [] })
    return
  }
  const appendedTo = name.startsWith('extra-') ? name.slice('extra-'.length) : undefined
  if (appendedTo === undefined || !names.includes(appendedTo)) return
  const current = values.get(appendedTo) ?? { set: undefined, extra: [] }
  values.set(appendedTo, { set: current.set, extra: [...current.extra, ...words] })
}
