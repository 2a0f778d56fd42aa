#!/usr/bin/env node
// The `mesh` command as npm links it. In a clone the TypeScript sources are here and Node runs
// them as they are; the npm package ships only the JavaScript that `npm run build` emits into
// dist/, because Node refuses to strip types from files under node_modules.
import { existsSync, mkdirSync, statSync } from 'node:fs'
import module from 'node:module'
import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * Nix starts a new `mesh build-hook` after every remote build and waits for its first answer:
 * compiling the modules, and in a clone stripping their types, is most of that start, so Node
 * keeps what it compiled. That cache is code `mesh` will run, so only a directory of this
 * user's own that no one else may write holds it. Without one, `mesh` only starts slower. This
 * file is JavaScript so that the cache serves every module.
 */
function enableCompileCache () {
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'buildmesh', 'node-compile-cache')
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const stat = statSync(dir)
    if (stat.uid === process.getuid?.() && (stat.mode & 0o022) === 0) module.enableCompileCache?.(dir)
  } catch {
    // A read-only home or cache: nothing kept, nothing lost.
  }
}

enableCompileCache()
const source = new URL('../cli/mesh.ts', import.meta.url)
await import(existsSync(source) ? source.href : '../dist/cli/mesh.js')
