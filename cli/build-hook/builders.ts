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

/** Every machine line the entries stand for, files read and expanded. */
async function entryLines (entries: BuildersEntry[], readText: ReadText, depth: number): Promise<string[]> {
  if (depth > MAX_FILE_DEPTH) throw new Error(`builders files nest deeper than ${MAX_FILE_DEPTH} (does one name itself?)`)
  const lines: string[] = []
  for (const entry of entries) {
    if ('line' in entry) {
      lines.push(entry.line)
      continue
    }
    const text = await readText(entry.file)
    if (text !== null) lines.push(...await entryLines(builderEntries(text), readText, depth + 1))
  }
  return lines
}

/** A machine line's first column, its store as the line writes it. */
const storeColumn = (line: string): string => line.split(/[ \t]+/, 1)[0] ?? ''

/**
 * The host of a machine line's store URI (`ssh-ng://user@HOST`, `ssh://HOST`, or a bare
 * `user@HOST`, which Nix reads as ssh://), or null for a store that is not reached over SSH.
 */
export function machineHost (line: string): string | null {
  const uri = storeColumn(line)
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(uri)
  if (scheme !== null && scheme[1] !== 'ssh' && scheme[1] !== 'ssh-ng') return null
  if (scheme === null && (uri.startsWith('/') || /^(local|remote|auto)/.test(uri))) return null
  const authority = uri.slice(scheme === null ? 0 : scheme[0].length).split(/[/?]/, 1)[0] ?? ''
  const host = authority.slice(authority.lastIndexOf('@') + 1)
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']') === -1 ? undefined : host.indexOf(']'))
  const withoutPort = host.replace(/:\d+$/, '')
  return withoutPort === '' ? null : withoutPort
}

/** The store a machine line names, as Nix names it (machines.cc: a bare `user@HOST` is `ssh://`). */
export function storeUri (line: string): string {
  const uri = storeColumn(line)
  return uri.includes('://') ? uri : `ssh://${uri}`
}

/**
 * Which builders the setting lets the agent choose from. Naming the agent's own machines file
 * leaves the choice to the agent's live view, this host included (the file is only a snapshot of
 * that view), and the setting's other entries are machines besides; any other setting limits
 * remote builds to the machines it lists. Machines the mesh does not know are Nix's own hook's
 * to choose among, as without the agent.
 */
export type BuilderScope =
  | { kind: 'agent', outside: string[] }
  | { kind: 'hosts', hosts: string[], lines: string[] }

export async function builderScope (value: string, agentMachinesFile: string, readText: ReadText): Promise<BuilderScope> {
  const entries = builderEntries(value)
  const isAgentFile = (e: BuildersEntry): boolean => 'file' in e && resolve(e.file) === resolve(agentMachinesFile)
  if (entries.some(isAgentFile)) return { kind: 'agent', outside: await entryLines(entries.filter((e) => !isAgentFile(e)), readText, 0) }
  const lines = await entryLines(entries, readText, 0)
  const hosts = new Set<string>()
  for (const line of lines) {
    const host = machineHost(line)
    if (host !== null) hosts.add(host)
  }
  return { kind: 'hosts', hosts: [...hosts], lines }
}

/** The hosts of the machines the setting names beside the mesh's own choice, for the agent to say which it does not know. */
export const listedHosts = (scope: BuilderScope): string[] =>
  scope.kind === 'hosts' ? scope.hosts : [...new Set(scope.outside.map(machineHost).filter((h) => h !== null))]

/** What a machine line says it builds, with Nix's defaults for an empty or `-` column (machines.cc). */
export interface MachineCapabilities {
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
}

export function machineCapabilities (line: string, thisSystem: string): MachineCapabilities {
  const columns = line.split(/[ \t]+/)
  const list = (i: number): string[] | undefined => {
    const column = columns[i]
    return column === undefined || column === '' || column === '-' ? undefined : column.split(',').filter((x) => x !== '')
  }
  return { systems: list(1) ?? [thisSystem], supportedFeatures: list(5) ?? [], mandatoryFeatures: list(6) ?? [] }
}
