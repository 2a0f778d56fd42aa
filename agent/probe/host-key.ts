import type { ProbeDeps } from './deps.ts'
import { SshHostKeyError } from './errors.ts'

export const HOST_KEY_FILES = [
  '/etc/ssh/ssh_host_ed25519_key.pub',
  '/etc/ssh/ssh_host_ecdsa_key.pub',
  '/etc/ssh/ssh_host_rsa_key.pub'
]

/**
 * This host's SSH public host key as `type base64`, the comment dropped: the comment is only a
 * label (often `root@host`), and masters pin the key alone. From `file` when the user named one,
 * which must then hold a key; else the first readable default, or null.
 */
export async function probeHostKey (deps: Pick<ProbeDeps, 'readFile' | 'log'>, file?: string): Promise<string | null> {
  if (file !== undefined) {
    let text: string
    try {
      text = await deps.readFile(file)
    } catch (err) {
      throw new SshHostKeyError(file, `cannot read it (${(err as Error).message})`)
    }
    const key = parsePublicKey(text)
    if (key === null) throw new SshHostKeyError(file, 'holds no OpenSSH public key (`ssh-ed25519 AAAA...`)')
    return key
  }
  for (const path of HOST_KEY_FILES) {
    let text: string
    try {
      text = await deps.readFile(path)
    } catch {
      continue
    }
    const key = parsePublicKey(text)
    if (key !== null) return key
    deps.log.warn({ path }, 'SSH host key file holds no OpenSSH public key')
  }
  deps.log.warn({ files: HOST_KEY_FILES }, 'no SSH host public key found: masters cannot pin this host (use --ssh-host-key)')
  return null
}

/** The first `type base64` public key line in an OpenSSH .pub file, without its comment. */
export function parsePublicKey (text: string): string | null {
  for (const line of text.split('\n')) {
    const match = /^\s*([a-z0-9][a-z0-9@.-]*)\s+([A-Za-z0-9+/]+={0,3})(?:\s|$)/.exec(line)
    if (match?.[1] !== undefined && match[2] !== undefined && blobNamesType(match[2], match[1])) {
      return `${match[1]} ${match[2]}`
    }
  }
  return null
}

// The key blob starts with its own type as an SSH string: checking it catches a truncated or
// mangled line before masters pin it and every build to this host fails host key checking.
function blobNamesType (base64: string, type: string): boolean {
  const blob = Buffer.from(base64, 'base64')
  if (blob.length < 4) return false
  const length = blob.readUInt32BE(0)
  return blob.subarray(4, 4 + length).toString('latin1') === type && blob.length > 4 + length
}
