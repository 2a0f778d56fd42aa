import { resolve } from 'node:path'

/**
 * Nix's `builders` setting, read the way Nix 2.8 reads it (src/libstore/machines.cc,
 * parseMachines): entries are separated by newlines or `;`, trimmed, cut at `#`; an entry
 * `@PATH` stands for the entries of that file (a missing file for none).
 */

/** Reads a file's text, or null if it does not exist; other errors throw. */
export type ReadText = (path: string) => Promise<string | null>

export type BuildersEntry = { file: string } | { line: string }

/** Nix itself has no limit and would loop forever on a file that names itself. */
const MAX_FILE_DEPTH = 8

export function builderEntries (value: string): BuildersEntry[] {
  const entries: BuildersEntry[] = []
  for (const raw of value.split(/[\n;]/)) {
    const entry = raw.split('#', 1)[0]!.trim()
    if (entry === '') continue
    entries.push(entry.startsWith('@') ? { file: entry.slice(1).trim() } : { line: entry })
  }
  return entries
}

/** Every machine line the setting stands for, files read and expanded. */
export async function machineLines (value: string, readText: ReadText, depth = 0): Promise<string[]> {
  if (depth > MAX_FILE_DEPTH) throw new Error(`builders files nest deeper than ${MAX_FILE_DEPTH} (does one name itself?)`)
  const lines: string[] = []
  for (const entry of builderEntries(value)) {
    if ('line' in entry) {
      lines.push(entry.line)
      continue
    }
    const text = await readText(entry.file)
    if (text !== null) lines.push(...await machineLines(text, readText, depth + 1))
  }
  return lines
}

/**
 * The host of a machine line's store URI (`ssh-ng://user@HOST`, `ssh://HOST`, or a bare
 * `user@HOST`, which Nix reads as ssh://), or null for a store that is not reached over SSH.
 */
export function machineHost (line: string): string | null {
  const uri = line.split(/[ \t]+/, 1)[0] ?? ''
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)
  if (scheme !== null && scheme[1] !== 'ssh' && scheme[1] !== 'ssh-ng') return null
  if (scheme === null && (uri.startsWith('/') || /^(local|remote|auto)/.test(uri))) return null
  const authority = uri.slice(scheme === null ? 0 : scheme[0].length).split(/[/?]/, 1)[0] ?? ''
  const host = authority.slice(authority.lastIndexOf('@') + 1)
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'))
  const withoutPort = host.replace(/:\d+$/, '')
  return withoutPort === '' ? null : withoutPort
}

/**
 * Which builders the setting lets the agent choose from. Naming the agent's own machines file
 * and nothing else leaves the choice to the agent's live view, this host included (the file is
 * only a snapshot of that view); any other setting limits remote builds to the hosts it lists.
 */
export type BuilderScope =
  | { kind: 'agent' }
  | { kind: 'hosts', hosts: string[], otherStores: boolean }

export async function builderScope (value: string, agentMachinesFile: string, readText: ReadText): Promise<BuilderScope> {
  const entries = builderEntries(value)
  const only = entries.length === 1 ? entries[0]! : undefined
  if (only !== undefined && 'file' in only && resolve(only.file) === resolve(agentMachinesFile)) return { kind: 'agent' }
  const hosts = new Set<string>()
  let otherStores = false
  for (const line of await machineLines(value, readText)) {
    const host = machineHost(line)
    if (host === null) otherStores = true
    else hosts.add(host)
  }
  return { kind: 'hosts', hosts: [...hosts], otherStores }
}
