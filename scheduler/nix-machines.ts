import { InvalidFieldError, UsageError } from '../common/errors.ts'
import {
  validateAddress,
  validateFeatures,
  validateHostKey,
  validateSlots,
  validateSpeed,
  validateSshUser,
  validateSystems
} from '../wire/fields.ts'
import type { Builder } from './peer.ts'

export interface NixMachinesOptions {
  /** Private key Nix logs in with (column 3). */
  sshKeyPath: string
}

/**
 * Why the Nix machines file cannot carry this builder, or null if it can. Nix before 2.31 has
 * no port in a store URI, and the file must be read by Nix 2.8 as well as current Nix.
 */
export function nixLineProblem (builder: Builder): string | null {
  const port = builder.advertisement.sshPort
  if (port !== 22) return `ssh port ${port} needs Nix >= 2.31`
  // Nix 2.8 passes the host to ssh undecoded, so only a raw `%eth0` works there, and that is not
  // valid URI syntax (RFC 6874 wants `%25`) for the stricter parser of newer Nix.
  if (builder.host.includes('%')) return `scoped IPv6 address ${builder.host} cannot be written in a Nix store URI`
  return null
}

/**
 * The Nix machines file: one 8-column line per builder that Nix can carry (see nixLineProblem),
 * in the given order, which is Nix's tie-breaker. No comments, blank lines or `;`: Nix 2.8
 * splits lines on `;` even inside a comment. Every column is validated again here, so a
 * hand-built advertisement cannot inject a machine; a bad one throws InvalidFieldError.
 */
export function renderNixMachines (builders: Builder[], options: NixMachinesOptions): string {
  const keyPath = checkKeyPath(options.sshKeyPath)
  let text = ''
  for (const builder of builders) {
    if (nixLineProblem(builder) !== null) continue
    text += `${nixLine(builder, keyPath)}\n`
  }
  return text
}

function nixLine (builder: Builder, keyPath: string): string {
  const ad = builder.advertisement
  const address = validateAddress(builder.host, 'host')
  // Nix 2.8 and current Nix both strip the brackets before calling ssh.
  const host = address.includes(':') ? `[${address}]` : address
  const hostKey = ad.hostKey === null ? null : validateHostKey(ad.hostKey)
  const columns = [
    `ssh-ng://${validateSshUser(ad.sshUser)}@${host}`,
    validateSystems(ad.systems).join(','),
    keyPath,
    String(validateSlots(ad.slots)),
    // Nix 2.8 reads an unsigned integer here; 0 would also be refused by later versions.
    String(Math.max(1, Math.round(validateSpeed(ad.speed)))),
    listColumn(validateFeatures(ad.supportedFeatures, 'supportedFeatures')),
    listColumn(validateFeatures(ad.mandatoryFeatures, 'mandatoryFeatures')),
    hostKey === null ? '-' : Buffer.from(hostKey).toString('base64')
  ]
  for (const column of columns) {
    // The validators already exclude these; this guard holds even if one of them regresses.
    if (!/^[\x21-\x7e]+$/.test(column) || /[;#]/.test(column)) {
      throw new InvalidFieldError('nix-machines', `refusing to write column ${JSON.stringify(column)}`)
    }
  }
  return columns.join(' ')
}

function listColumn (items: string[]): string {
  return items.length === 0 ? '-' : items.join(',')
}

function checkKeyPath (path: string): string {
  if (!path.startsWith('/') || !/^[\x21-\x7e]+$/.test(path) || /[;#]/.test(path)) {
    throw new UsageError(`ssh key path ${JSON.stringify(path)} cannot be written in a Nix machines file: it must be absolute, without spaces, ';' or '#'`)
  }
  return path
}
