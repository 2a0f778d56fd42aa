import { dirname, resolve } from 'node:path'
import type { ProbeDeps } from './deps.ts'

export const SSHD_CONFIG = '/etc/ssh/sshd_config'
export const DEFAULT_SSH_PORT = 22

const MAX_INCLUDE_DEPTH = 16

/**
 * The port sshd listens on: the first `Port` in sshd_config, following `Include` as sshd does
 * (Debian puts `Include /etc/ssh/sshd_config.d/*.conf` first), else 22. An unreadable config is
 * normal for a non-root agent and only logged at debug level.
 */
export async function probeSshPort (deps: Pick<ProbeDeps, 'readFile' | 'readdir' | 'log'>): Promise<number> {
  return await findPort(deps, SSHD_CONFIG, 0) ?? DEFAULT_SSH_PORT
}

async function findPort (deps: Pick<ProbeDeps, 'readFile' | 'readdir' | 'log'>, path: string, depth: number): Promise<number | undefined> {
  if (depth > MAX_INCLUDE_DEPTH) return undefined
  let text: string
  try {
    text = await deps.readFile(path)
  } catch (err) {
    deps.log.debug({ path, err }, 'cannot read sshd config')
    return undefined
  }
  for (const line of text.split('\n')) {
    const [keyword, ...args] = line.replace(/#.*/, '').trim().split(/\s*=\s*|\s+/)
    const key = keyword?.toLowerCase()
    // Port may not appear in a Match block, and the first Match block runs to the end of the file.
    if (key === 'match') return undefined
    if (key === 'port') {
      const port = Number(args[0])
      if (Number.isInteger(port) && port > 0 && port < 65536) return port
      deps.log.warn({ path, line }, 'ignoring an invalid Port in sshd config')
    }
    if (key === 'include') {
      for (const pattern of args) {
        for (const included of await expand(deps, resolve(dirname(SSHD_CONFIG), pattern))) {
          const port = await findPort(deps, included, depth + 1)
          if (port !== undefined) return port
        }
      }
    }
  }
  return undefined
}

// sshd globs Include paths; wildcards in the last component are all that configs use.
async function expand (deps: Pick<ProbeDeps, 'readdir'>, path: string): Promise<string[]> {
  const name = path.slice(path.lastIndexOf('/') + 1)
  if (!/[*?]/.test(name)) return [path]
  const dir = path.slice(0, path.lastIndexOf('/')) || '/'
  const pattern = new RegExp(`^${name.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`)
  try {
    const names = await deps.readdir(dir)
    return names.filter((entry) => pattern.test(entry) && !entry.startsWith('.')).sort().map((entry) => `${dir}/${entry}`)
  } catch {
    return []
  }
}
