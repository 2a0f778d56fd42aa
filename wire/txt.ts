import { BuildmeshError, InvalidFieldError } from '../common/errors.ts'
import { TXT_VERSION } from './advertisement.ts'
import type { Advertisement } from './advertisement.ts'
import {
  describeValue,
  validateFeatures,
  validateFreeDiskBytes,
  validateHostName,
  validateLoad,
  validatePeerId,
  validatePort,
  validateSlots,
  validateSpeed,
  validateSshUser,
  validateSystems
} from './fields.ts'

/**
 * TXT schema of `_buildmesh._tcp`. The host name is the service instance name, not a key.
 *
 * | key   | field             | value                                         | required |
 * |-------|-------------------|-----------------------------------------------|----------|
 * | v     | (schema version)  | `1` (TXT_VERSION)                             | yes      |
 * | sys   | systems           | comma list: `x86_64-linux,i686-linux`         | yes      |
 * | feat  | supportedFeatures | comma list: `kvm,big-parallel`                | no: none |
 * | mfeat | mandatoryFeatures | comma list: `benchmark`                       | no: none |
 * | slots | slots             | integer 1..1024                               | yes      |
 * | speed | speed             | decimal, up to 2 places: `1.5`                | yes      |
 * | load  | load              | decimal 0..1, up to 2 places: `0.25`          | yes      |
 * | disk  | freeDiskBytes     | integer bytes                                 | yes      |
 * | user  | sshUser           | `nix-builder`                                 | yes      |
 * | sport | sshPort           | integer 1..65535                              | yes      |
 * | pid   | peerId            | libp2p peer id: `12D3KooW...`                 | no: null |
 * | p2p   | p2pPort           | integer 1..65535, the libp2p TCP port         | with pid |
 *
 * The SSH host key is not here: mDNS is open to anyone, so a master takes the key it pins only
 * from the builder's status stream, over the libp2p connection the mesh key authenticates.
 * Empty lists and a null host key are sent by leaving the key out. Keys are matched without
 * case; of a repeated key the first wins and unknown keys are ignored (RFC 6763 §6.4), so a
 * later version may add keys without breaking this one. A change in meaning bumps `v`.
 */

/** Keep the record in one 512-byte mDNS message (RFC 6763 §6.2). */
export const MAX_TXT_BYTES = 400
/** Decoding refuses more than this: over a full Ethernet-sized packet is not a peer of ours. */
export const MAX_RAW_TXT_BYTES = 1300
const MAX_STRING_BYTES = 255
const MAX_KEY_LENGTH = 9

/** Our own advertisement does not fit in a TXT record. */
export class TxtTooLargeError extends BuildmeshError {
  constructor (message: string) {
    super('ERR_TXT_TOO_LARGE', message)
  }
}

/** Decimal with at most two places and no trailing zeros: `1`, `0.5`, `0.25`. */
function shortDecimal (n: number): string {
  return String(Math.round(n * 100) / 100)
}

export function encodeAdvertisement (ad: Advertisement): Record<string, string> {
  validateHostName(ad.name, 'name')
  const txt: Record<string, string> = { v: String(TXT_VERSION) }
  txt.sys = validateSystems(ad.systems, 'sys').join(',')
  const features = validateFeatures(ad.supportedFeatures, 'feat')
  if (features.length > 0) txt.feat = features.join(',')
  const mandatory = validateFeatures(ad.mandatoryFeatures, 'mfeat')
  if (mandatory.length > 0) txt.mfeat = mandatory.join(',')
  txt.slots = String(validateSlots(ad.slots, 'slots'))
  // Two places cannot express a speed under 0.005; speeds only rank builders, so round it up.
  txt.speed = shortDecimal(Math.max(validateSpeed(ad.speed, 'speed'), 0.01))
  txt.load = shortDecimal(validateLoad(ad.load, 'load'))
  txt.disk = String(validateFreeDiskBytes(ad.freeDiskBytes, 'disk'))
  txt.user = validateSshUser(ad.sshUser, 'user')
  txt.sport = String(validatePort(ad.sshPort, 'sport'))
  if (ad.peerId !== null) {
    txt.pid = validatePeerId(ad.peerId, 'pid')
    txt.p2p = String(validatePort(ad.p2pPort, 'p2p'))
  }

  let total = 0
  for (const [key, value] of Object.entries(txt)) {
    const size = Buffer.byteLength(`${key}=${value}`)
    if (size > MAX_STRING_BYTES) throw new TxtTooLargeError(`TXT string ${key} is ${size} bytes, over the DNS limit of ${MAX_STRING_BYTES}`)
    total += 1 + size
  }
  if (total >= MAX_TXT_BYTES) {
    throw new TxtTooLargeError(`TXT record would be ${total} bytes, it must stay under ${MAX_TXT_BYTES}: advertise fewer systems or features, or a shorter host key type such as ed25519`)
  }
  return txt
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** Splits raw TXT strings into key -> value bytes (null when there is no `=`), first key wins. */
function parseTxt (rawTxt: Uint8Array[]): Map<string, Uint8Array | null> {
  let total = 0
  for (const raw of rawTxt) total += 1 + raw.length
  if (total > MAX_RAW_TXT_BYTES) throw new InvalidFieldError('txt', `record is ${total} bytes, over ${MAX_RAW_TXT_BYTES}`)

  const entries = new Map<string, Uint8Array | null>()
  for (const raw of rawTxt) {
    if (raw.length > MAX_STRING_BYTES) throw new InvalidFieldError('txt', `string of ${raw.length} bytes, over ${MAX_STRING_BYTES}`)
    const equals = raw.indexOf(0x3d)
    const keyBytes = equals === -1 ? raw : raw.subarray(0, equals)
    // RFC 6763 §6.4: an empty string or one without a key carries nothing.
    if (keyBytes.length === 0) continue
    if (keyBytes.some((b) => b < 0x20 || b > 0x7e)) throw new InvalidFieldError('txt', 'key is not printable ASCII')
    const key = Buffer.from(keyBytes).toString('latin1').toLowerCase()
    if (key.length > MAX_KEY_LENGTH) throw new InvalidFieldError('txt', `key ${describeValue(key)} is longer than ${MAX_KEY_LENGTH} characters`)
    if (!entries.has(key)) entries.set(key, equals === -1 ? null : raw.subarray(equals + 1))
  }
  return entries
}

export function decodeAdvertisement (instanceName: string, rawTxt: Uint8Array[]): Advertisement {
  const name = validateHostName(instanceName, 'name')
  const entries = parseTxt(rawTxt)

  const text = (key: string): string | undefined => {
    const bytes = entries.get(key)
    if (bytes === undefined) return undefined
    if (bytes === null) throw new InvalidFieldError(key, 'has no value')
    try {
      return utf8.decode(bytes)
    } catch {
      throw new InvalidFieldError(key, 'value is not UTF-8')
    }
  }
  const required = (key: string): string => {
    const value = text(key)
    if (value === undefined) throw new InvalidFieldError(key, 'missing')
    return value
  }

  const version = text('v')
  if (version !== String(TXT_VERSION)) {
    const seen = version === undefined ? 'no version' : `version ${describeValue(version)}`
    throw new InvalidFieldError('v', `${seen}, this build reads version ${TXT_VERSION}`)
  }
  const peerId = text('pid')
  return {
    name,
    systems: validateSystems(required('sys'), 'sys'),
    supportedFeatures: validateFeatures(text('feat') ?? '', 'feat'),
    mandatoryFeatures: validateFeatures(text('mfeat') ?? '', 'mfeat'),
    slots: validateSlots(required('slots'), 'slots'),
    speed: validateSpeed(required('speed'), 'speed'),
    load: validateLoad(required('load'), 'load'),
    freeDiskBytes: validateFreeDiskBytes(required('disk'), 'disk'),
    sshUser: validateSshUser(required('user'), 'user'),
    sshPort: validatePort(required('sport'), 'sport'),
    hostKey: null,
    peerId: peerId === undefined ? null : validatePeerId(peerId, 'pid'),
    p2pPort: peerId === undefined ? null : validatePort(required('p2p'), 'p2p')
  }
}
