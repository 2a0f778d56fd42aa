import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { BuildmeshError } from '../../../common/errors.ts'
import { DEFAULT_MESH_KEY_PATH, generateMeshKey, meshKeyFingerprint, readMeshKey, writeMeshKey } from '../../../common/mesh-key.ts'

async function node (psk: Uint8Array): Promise<Libp2p> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionProtector: preSharedKey({ psk, timeout: 500 })
  })
}

async function errorOf (promise: Promise<unknown>): Promise<BuildmeshError> {
  const err: unknown = await promise.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(BuildmeshError)
  return err as BuildmeshError
}

describe('generateMeshKey', () => {
  it('makes the swarm key format, different every time', async () => {
    const key = Buffer.from(await generateMeshKey()).toString()
    expect(key).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}$/)
    expect(Buffer.from(await generateMeshKey()).toString()).not.toBe(key)
  })

  it('lets nodes with the same key connect over TCP and keeps a node with another key out', async () => {
    const key = await generateMeshKey()
    const nodes: Libp2p[] = []
    try {
      for (const psk of [key, key, await generateMeshKey()]) nodes.push(await node(psk))
      const [a, b, stranger] = nodes as [Libp2p, Libp2p, Libp2p]
      const address = b.getMultiaddrs()[0]
      if (address === undefined) throw new Error('b listens nowhere')
      const connection = await a.dial(address, { signal: AbortSignal.timeout(2000) })
      expect(connection.remotePeer.equals(b.peerId)).toBe(true)
      // With the wrong key the handshake reads noise: it fails, or stalls until the signal.
      await expect(stranger.dial(address, { signal: AbortSignal.timeout(500) })).rejects.toThrow()
      expect(b.getConnections(stranger.peerId)).toEqual([])
    } finally {
      await Promise.all(nodes.map(async (n) => { await n.stop() }))
    }
  }, 3000)
})

describe('meshKeyFingerprint', () => {
  it('is 8 hex digits that differ between keys and do not appear in the key', async () => {
    const key = await generateMeshKey()
    const fingerprint = meshKeyFingerprint(key)
    expect(fingerprint).toMatch(/^[0-9a-f]{8}$/)
    expect(Buffer.from(key).toString()).not.toContain(fingerprint)
    expect(meshKeyFingerprint(await generateMeshKey())).not.toBe(fingerprint)
  })
})

describe('mesh key file', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-mesh-key-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('defaults to /etc/buildmesh/mesh.key', () => {
    expect(DEFAULT_MESH_KEY_PATH).toBe('/etc/buildmesh/mesh.key')
  })

  it('is written with mode 0600 whatever the umask, in a new 0755 directory, leaving no temp file', async () => {
    const path = join(dir, 'etc', 'mesh.key')
    const umask = process.umask(0o000)
    let key: Uint8Array
    try {
      key = await writeMeshKey(path)
    } finally {
      process.umask(umask)
    }
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'etc'))).mode & 0o777).toBe(0o755)
    expect(await readdir(join(dir, 'etc'))).toEqual(['mesh.key'])
    expect(new Uint8Array(await readFile(path))).toEqual(key)
    expect(await readMeshKey(path)).toEqual(key)
  })

  it('refuses to replace an existing file without force, and replaces it with force', async () => {
    const path = join(dir, 'mesh.key')
    const first = await writeMeshKey(path)
    const err = await errorOf(writeMeshKey(path))
    expect(err.code).toBe('ERR_MESH_KEY_EXISTS')
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain('--force')
    expect(await readMeshKey(path)).toEqual(first)
    const second = await writeMeshKey(path, { force: true })
    expect(second).not.toEqual(first)
    expect(await readMeshKey(path)).toEqual(second)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(dir)).toEqual(['mesh.key'])
  })

  it('reads a key with a trailing newline or CRLF as the same key', async () => {
    const key = await generateMeshKey()
    const path = join(dir, 'mesh.key')
    await writeFile(path, `${Buffer.from(key).toString().replaceAll('\n', '\r\n').toUpperCase().replace('/KEY/SWARM/PSK/1.0.0/', '/key/swarm/psk/1.0.0/').replace('/BASE16/', '/base16/')}\r\n`, { mode: 0o600 })
    const read = await readMeshKey(path)
    expect(read).toEqual(key)
    expect(meshKeyFingerprint(read)).toBe(meshKeyFingerprint(key))
  })

  it('says how to make a key when there is none', async () => {
    const path = join(dir, 'mesh.key')
    const err = await errorOf(readMeshKey(path))
    expect(err.code).toBe('ERR_NO_MESH_KEY')
    expect(err.message).toContain(`mesh key generate ${path}`)
    expect(err.message).toContain('every host')
    expect(err.message).not.toContain('\n')
  })

  it('refuses a key that group or others can read, naming the fix', async () => {
    const path = join(dir, 'mesh.key')
    await writeMeshKey(path)
    for (const mode of [0o644, 0o640, 0o604]) {
      await chmod(path, mode)
      const err = await errorOf(readMeshKey(path))
      expect(err.code).toBe('ERR_MESH_KEY_PERMISSIONS')
      expect(err.message).toContain(`chmod 600 ${path}`)
    }
  })

  it('calls a path that cannot be read unreadable, even as root', async () => {
    const directory = join(dir, 'mesh.key')
    await mkdir(directory, { mode: 0o700 })
    expect((await errorOf(readMeshKey(directory))).code).toBe('ERR_MESH_KEY_UNREADABLE')
    // Mode 0600 and the caller's own, yet reading it at offset 0 fails (EIO) for everyone.
    const err = await errorOf(readMeshKey('/proc/self/mem'))
    expect(err.code).toBe('ERR_MESH_KEY_UNREADABLE')
    expect(err.message).toContain('/proc/self/mem')
  })

  it('refuses malformed keys', async () => {
    const path = join(dir, 'mesh.key')
    const hex = 'ab'.repeat(32)
    for (const content of ['', 'garbage', `/key/swarm/psk/1.0.0/\n/base16/\n${hex.slice(2)}`, `/key/swarm/psk/1.0.0/\n/base64/\n${hex}`,
      `/key/swarm/psk/1.0.0/\n/base16/\n${hex.slice(1)}g`, `/key/swarm/psk/1.0.0/\n/base16/\n${hex}\nmore`, 'x'.repeat(10_000)]) {
      await writeFile(path, content, { mode: 0o600 })
      const err = await errorOf(readMeshKey(path))
      expect(err.code).toBe('ERR_MESH_KEY_FORMAT')
      expect(err.message).not.toContain(hex)
    }
  })
})
