import { homedir, tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

const isRoot = (): boolean => process.getuid?.() === 0

/** Where the agent keeps its keys and generated lists: the system's place for a root agent. */
export function defaultStateDir (env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/var/lib/buildmesh'
  return join(env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'buildmesh')
}

/** The control socket `mesh` commands talk to; BUILDMESH_SOCKET overrides it. */
export function defaultSocketPath (env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/run/buildmesh/agent.sock'
  const runtime = env.XDG_RUNTIME_DIR ?? join(tmpdir(), `buildmesh-${userInfo().uid}`)
  return join(runtime, 'buildmesh', 'agent.sock')
}
