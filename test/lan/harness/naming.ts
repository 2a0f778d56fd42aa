import { randomBytes } from 'node:crypto'

/**
 * Every kernel object of one LAN carries the run's prefix, so teardown (and anyone reading
 * `ip netns list`) can tell which run owns what. The prefix has a fixed length and namespaces
 * add a '-', so no run's names can start with another run's prefix.
 */
export interface LanNames {
  prefix: string
  switchNetns: string
  bridge: string
}

/** Interface names are limited to 15 characters: 10 for the prefix, 1 for the side, 3 for the index. */
export const MAX_HOSTS = 250

export function newLanNames (): LanNames {
  const pid = (process.pid & 0xffff).toString(16).padStart(4, '0')
  const prefix = `bm${pid}${randomBytes(2).toString('hex')}`
  return { prefix, switchNetns: `${prefix}-switch`, bridge: `${prefix}br` }
}

export function hostNetns (prefix: string, host: string): string {
  return `${prefix}-${host}`
}

/** The pair that plugs host number `index` into the switch: `host` lives in the host, `port` on the bridge. */
export function vethNames (prefix: string, index: number): { host: string, port: string } {
  return { host: `${prefix}h${index}`, port: `${prefix}s${index}` }
}

/** Host names become hostnames, namespace names and directory names: keep them plain. */
export function checkHostName (name: string): void {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name) || name === 'switch') {
    throw new Error(`bad LAN host name ${JSON.stringify(name)}: use lowercase letters, digits and '-', start with a letter, not "switch"`)
  }
}

/** The namespaces of `prefix` among `ip netns list` output lines. */
export function ownNetns (prefix: string, listing: string): string[] {
  return listing.split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${prefix}-`))
}
