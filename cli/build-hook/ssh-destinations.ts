import { execFile } from 'node:child_process'
import { isIP } from 'node:net'

/**
 * What ssh connects to for the hosts of Nix's machine lines. A line names its builder the way
 * the user's ssh knows it, and that is often a `Host` entry of ~/.ssh/config or
 * /etc/ssh/ssh_config (`ssh-ng://ruby` with `HostName 192.168.1.20`): Nix 2.8's store URIs take no
 * port, so that is where a builder's port, user and key go. The hook runs as the user Nix's ssh
 * runs as, with its environment, so it asks ssh itself (`ssh -G`, which prints the configuration
 * it would use and connects nowhere); the agent, another user that cannot read that file, then
 * knows the member the name stands for.
 */

/** The host name ssh would connect to for `host`, or null if ssh cannot tell. */
export type SshHostName = (host: string) => Promise<string | null>

/** A name ssh may be given as a host: no option, no space, nothing a shell or config would read twice. */
const PLAIN_HOST = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$/

/** `HostName` in `ssh -G` output: a name or address, lowercased by ssh. */
const HOSTNAME_LINE = /^hostname ([A-Za-z0-9._:-]{1,253})$/m

/**
 * `ssh -G` with the options Nix gives its ssh (`NIX_SSHOPTS`, split on white space as Nix
 * splits it), so a `-F FILE` there is read too. A configuration that makes ssh slow (a `Match
 * exec`) is given up on after `timeoutMs`.
 */
export function sshConfigHostName (env: NodeJS.ProcessEnv, timeoutMs = 1000): SshHostName {
  const options = (env.NIX_SSHOPTS ?? '').split(/[ \t\n\r]+/).filter((o) => o !== '')
  return async (host) => await new Promise((resolve) => {
    execFile('ssh', [...options, '-G', '--', host], { env, timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => {
      resolve(err === null ? HOSTNAME_LINE.exec(stdout)?.[1] ?? null : null)
    })
  })
}

/**
 * For each named host that ssh knows by another name, that name. Hosts that are addresses
 * already, or that ssh connects to as they are, are left out; so is any ssh cannot tell of.
 */
export async function sshDestinations (hosts: string[], hostName: SshHostName): Promise<Record<string, string>> {
  const asked = [...new Set(hosts)].filter((host) => isIP(host) === 0 && PLAIN_HOST.test(host))
  const named = await Promise.all(asked.map(async (host) => [host, await hostName(host).catch(() => null)] as const))
  const destinations: Record<string, string> = {}
  for (const [host, destination] of named) if (destination !== null && destination !== host.toLowerCase()) destinations[host] = destination
  return destinations
}
