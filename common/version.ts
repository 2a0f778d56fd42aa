import pkg from '../package.json' with { type: 'json' }

/** This build's version, as builders report it in their status. */
export const BUILDMESH_VERSION: string = pkg.version
