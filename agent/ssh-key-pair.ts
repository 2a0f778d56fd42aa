import { open, readFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import ssh2 from 'ssh2'
import type { ParsedKey } from 'ssh2'
import { writeFileAtomic } from '../common/atomic-file.ts'
import { BuildmeshError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'

/** The private key the master logs in to builders with cannot be used, and why. */
export class SshKeyError extends BuildmeshError {
  readonly file: string

  constructor (file: string, reason: string, options?: ErrorOptions) {
    super('ERR_SSH_KEY', `SSH key ${file}: ${reason}`, 1, options)
    this.file = file
  }
}

export interface SshKeyPair {
  privateKeyPath: string
  /** The OpenSSH public key line without a comment, e.g. `ssh-ed25519 AAAA...`. */
  publicKey: string
}

const USABLE_TYPES = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'])

/**
 * The key the master's Nix and Guix log in to builders with. Nix offloads unattended, so a
 * key must work without a passphrase; ssh refuses a key others can read, so that is checked
 * here, where the error is clear, rather than at the first build. A new pair is ed25519,
 * with `PATH.pub` beside it for people who authorize it by hand.
 */
export async function loadOrCreateSshKeyPair (privateKeyPath: string, log: Pick<Logger, 'info' | 'warn'>): Promise<SshKeyPair> {
  const existing = await loadSshKeyPair(privateKeyPath, log)
  if (existing !== undefined) return existing
  const pair = generateSshKeyPair(privateKeyPath)
  try {
    await writeFileAtomic(privateKeyPath, pair.private, { mode: 0o600, exclusive: true })
  } catch (err) {
    // Another process created it first: use that one, so both agree on the key.
    if (err instanceof BuildmeshError && err.code === 'ERR_EXISTS') return await loadOrCreateSshKeyPair(privateKeyPath, log)
    throw err
  }
  await writeFileAtomic(`${privateKeyPath}.pub`, `${pair.public.trim()}\n`, { mode: 0o644 })
  log.info({ file: privateKeyPath, publicKey: pair.publicKey }, 'created SSH key pair for logging in to builders')
  return { privateKeyPath, publicKey: pair.publicKey }
}

export interface GeneratedKeyPair {
  /** The OpenSSH private key file's text. */
  private: string
  /** The `.pub` line, with its comment. */
  public: string
  publicKey: string
}

type Generate = () => { private: string, public: string }

const MAX_ATTEMPTS = 16

/**
 * A new ed25519 pair for `privateKeyPath` that ssh2 and OpenSSH can both read. ssh2's generator strips every leading
 * zero byte of the public key (mscdex/ssh2#1390), so about 1 pair in 256 comes out with a
 * 31-byte key that no one can parse; such a pair is thrown away and another made, before
 * anything is written. 16 bad pairs in a row would take odds of 2^-128.
 */
export function generateSshKeyPair (privateKeyPath: string, generate: Generate = () => ssh2.utils.generateKeyPairSync('ed25519', { comment: `buildmesh@${hostname()}` })): GeneratedKeyPair {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const pair = generate()
    const key = ssh2.utils.parseKey(pair.private)
    const pub = ssh2.utils.parseKey(pair.public)
    if (key instanceof Error || pub instanceof Error) continue
    const publicKey = publicLine(key)
    if (publicLine(pub) === publicKey) return { private: pair.private, public: pair.public, publicKey }
  }
  throw new SshKeyError(privateKeyPath, `could not make a readable ed25519 key pair in ${MAX_ATTEMPTS} attempts`)
}

async function loadSshKeyPair (path: string, log: Pick<Logger, 'warn'>): Promise<SshKeyPair | undefined> {
  const text = await readPrivateKey(path)
  if (text === undefined) return undefined
  const key = parse(path, text)
  if (!key.isPrivateKey()) throw new SshKeyError(path, 'holds a public key; expected the private one')
  if (!USABLE_TYPES.has(key.type)) throw new SshKeyError(path, `${key.type} keys are not supported; use an ed25519, ecdsa or rsa key`)
  const publicKey = publicLine(key)
  const stored = await readFile(`${path}.pub`, 'utf8').catch(() => undefined)
  if (stored !== undefined && stored.trim().split(/\s+/).slice(0, 2).join(' ') !== publicKey) {
    log.warn({ file: `${path}.pub`, publicKey }, 'the .pub file does not match the private key; using the key derived from the private one')
  }
  return { privateKeyPath: path, publicKey }
}

async function readPrivateKey (path: string): Promise<string | undefined> {
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SshKeyError(path, `cannot read: ${(err as Error).message}`, { cause: err })
  }
  try {
    const stats = await file.stat()
    if ((stats.mode & 0o077) !== 0) throw new SshKeyError(path, `ssh refuses a private key that group or others can access (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}): run \`chmod 600 ${path}\``)
    return await file.readFile('utf8')
  } catch (err) {
    if (err instanceof SshKeyError) throw err
    throw new SshKeyError(path, `cannot read: ${(err as Error).message}`, { cause: err })
  } finally {
    await file.close()
  }
}

function parse (path: string, text: string): ParsedKey {
  const key = ssh2.utils.parseKey(text)
  if (key instanceof Error) {
    const reason = /encrypted/i.test(key.message) ? 'is protected by a passphrase; Nix and Guix offload unattended, so the key must have none' : `not a usable private key (${key.message}); if the agent made it, delete it and its .pub: the agent makes a new pair and offers it to the builders`
    throw new SshKeyError(path, reason)
  }
  return key
}

function publicLine (key: ParsedKey): string {
  return `${key.type} ${key.getPublicSSH().toString('base64')}`
}
