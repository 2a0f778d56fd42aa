import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { writeFileAtomic } from '../common/atomic-file.ts'
import { BuildmeshError } from '../common/errors.ts'
import type { Logger } from '../common/logger.ts'

/** The identity file exists but cannot be read or is not an Ed25519 libp2p private key. */
export class IdentityError extends BuildmeshError {
  readonly file: string

  constructor (file: string, reason: string, options?: ErrorOptions) {
    super('ERR_IDENTITY', `libp2p identity ${file}: ${reason}`, 1, options)
    this.file = file
  }
}

export const IDENTITY_FILE = 'identity.key'

/**
 * The agent's libp2p identity, kept at `STATE/identity.key` (protobuf, mode 0600). Peers know
 * an agent by the peer id it gives, so a file that exists but is damaged is an error for a
 * person to look at: replacing it would silently make this host a stranger.
 */
export async function loadOrCreateIdentity (stateDir: string, log: Pick<Logger, 'info'>): Promise<PrivateKey> {
  const path = join(stateDir, IDENTITY_FILE)
  const existing = await loadIdentity(path)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  try {
    await writeFileAtomic(path, privateKeyToProtobuf(key), { mode: 0o600, exclusive: true })
  } catch (err) {
    // Another process created it first: its identity wins, as if it had been there all along.
    if (err instanceof BuildmeshError && err.code === 'ERR_EXISTS') return await loadOrCreateIdentity(stateDir, log)
    throw err
  }
  log.info({ peerId: peerIdFromPrivateKey(key).toString(), file: path }, 'created libp2p identity')
  return key
}

async function loadIdentity (path: string): Promise<PrivateKey | undefined> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new IdentityError(path, `cannot read: ${(err as Error).message}`, { cause: err })
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(path, 'not a libp2p private key (damaged?); move it away to make a new identity, which peers will see as a new host', { cause: err })
  }
  if (key.type !== 'Ed25519') throw new IdentityError(path, `expected an Ed25519 key, found ${key.type}`)
  return key
}
