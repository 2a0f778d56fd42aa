#!/usr/bin/env node
// The `mesh` command as npm links it. In a clone the TypeScript sources are here and Node runs
// them as they are; the npm package ships only the JavaScript that `npm run build` emits into
// dist/, because Node refuses to strip types from files under node_modules.
import { existsSync } from 'node:fs'

const source = new URL('../cli/mesh.ts', import.meta.url)
await import(existsSync(source) ? source.href : '../dist/cli/mesh.js')
