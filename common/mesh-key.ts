import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { writeFileAtomic } from './atomic-file.ts'
import { BuildmeshError } from './errors.ts'

/** Where every agent looks for the mesh key unless told otherwise with --mesh-key. */
export const DEFAULT_MESH_KEY_PATH = '/etc/buildmesh/mesh.key'

const HEADER = '/key/swarm/psk/1.0.0/\n/base16/\n'
const SECRET_HEX_LENGTH = 64
const SECRET_HEX = /^[0-9a-fA-F]{64}$/
// Far above a real key: reading a wrong file (a log, a disk image) must not cost memory.
const MAX_FILE_BYTES = 4096

/**
 * The mesh key file is missing, unreadable, too open or malformed. `code` tells which:
 * ERR_NO_MESH_KEY, ERR_MESH_KEY_UNREADABLE, ERR_MESH_KEY_PERMISSIONS, ERR_MESH_KEY_FORMAT.
 */
export class MeshKeyError extends BuildmeshError {
  readonly file: string

  constructor (code: string, file: string, message: string, options?: ErrorOptions) {
    super(code, message, 1, options)
    this.file = file
  }
}

/** `mesh key generate` would replace a key that every host may already share. */
export class MeshKeyExistsError extends BuildmeshError {
  readonly file: string

  constructor (file: string) {
    super('ERR_MESH_KEY_EXISTS', `${file} already exists: replacing it cuts this host off from hosts that still have it; pass --force to do it anyway`, 2)
    this.file = file
  }
}

/** A new random key, in the swarm key format that `preSharedKey({ psk })` of @libp2p/pnet reads. */
export async function generateMeshKey (): Promise<Uint8Array> {
  // Loaded only here: libp2p's modules take a tenth of a second, which every `mesh` command,
  // the build hook Nix starts per remote build among them, would pay for a key it never makes.
  const { generateKey } = await import('@libp2p/pnet')
  const key = new Uint8Array(HEADER.length + SECRET_HEX_LENGTH)
  generateKey(key)
  return key
}

/**
 * Writes a new key to `path` (mode 0600 from the start, atomically) and returns it. An existing
 * file is kept unless `force`, even if another process creates it meanwhile.
 */
export async function writeMeshKey (path: string, { force = false }: { force?: boolean } = {}): Promise<Uint8Array> {
  const key = await generateMeshKey()
  try {
    await writeFileAtomic(path, key, { mode: 0o600, exclusive: !force })
  } catch (err) {
    if (err instanceof BuildmeshError && err.code === 'ERR_EXISTS') throw new MeshKeyExistsError(path)
    throw err
  }
  return key
}

/**
 * Reads and checks the key at `path`, refusing, as ssh does with private keys, a file that
 * group or others can access. Returns the key in the canonical swarm key format, so that
 * the same secret gives the same bytes (and fingerprint) whatever line endings the file has.
 */
export async function readMeshKey (path: string): Promise<Uint8Array> {
  const text = await readKeyFile(path)
  const lines = text.split(/\r?\n/)
  if (lines.at(-1) === '') lines.pop()
  const [tag, codec, secret] = lines
  if (lines.length !== 3 || `${tag}\n${codec}\n` !== HEADER || secret === undefined || !SECRET_HEX.test(secret)) {
    throw new MeshKeyError('ERR_MESH_KEY_FORMAT', path, `${path} is not a mesh key: expected the three lines that \`mesh key generate\` writes (${HEADER.replaceAll('\n', ' ')}and ${SECRET_HEX_LENGTH} hex digits)`)
  }
  return new TextEncoder().encode(HEADER + secret.toLowerCase())
}

/**
 * First 8 hex digits of the SHA-256 of a key's secret, for a key from generateMeshKey or
 * readMeshKey: enough to tell keys apart in logs, useless to an attacker.
 */
export function meshKeyFingerprint (key: Uint8Array): string {
  const secret = Buffer.from(key).toString('latin1').slice(HEADER.length).trim().toLowerCase()
  return createHash('sha256').update(Buffer.from(secret, 'hex')).digest('hex').slice(0, 8)
}

async function readKeyFile (path: string): Promise<string> {
  let file
  try {
    file = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MeshKeyError('ERR_NO_MESH_KEY', path, `no mesh key at ${path}: run \`mesh key generate ${shellWord(path)}\` on one host, then copy that same file (mode 0600) to every host`)
    }
    throw unreadable(path, err)
  }
  try {
    // fstat on the open file: the file checked is the file read.
    const stats = await file.stat()
    if (!stats.isFile()) throw new MeshKeyError('ERR_MESH_KEY_UNREADABLE', path, `cannot read mesh key ${path}: not a regular file`)
    if ((stats.mode & 0o077) !== 0) {
      throw new MeshKeyError('ERR_MESH_KEY_PERMISSIONS', path, `mesh key ${path} is accessible to group or others (mode ${(stats.mode & 0o777).toString(8).padStart(4, '0')}): run \`chmod 600 ${shellWord(path)}\``)
    }
    if (stats.size > MAX_FILE_BYTES) throw new MeshKeyError('ERR_MESH_KEY_FORMAT', path, `${path} is not a mesh key: ${stats.size} bytes`)
    return await file.readFile('latin1')
  } catch (err) {
    if (err instanceof MeshKeyError) throw err
    throw unreadable(path, err)
  } finally {
    await file.close()
  }
}

function unreadable (path: string, err: unknown): MeshKeyError {
  return new MeshKeyError('ERR_MESH_KEY_UNREADABLE', path, `cannot read mesh key ${path}: ${(err as Error).message}`, { cause: err })
}

/** A path as the user would type it in a shell, for commands we suggest. */
function shellWord (path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll('\'', '\'\\\'\'')}'`
}
