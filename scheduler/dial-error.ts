/** How far a failed dial got, which is what tells a wrong key from a host that never answered. */
export interface DialProgress {
  /**
   * The private-network exchange completed and the noise handshake began
   * (libp2p's `upgrader:encrypt-outbound-connection` progress event).
   */
  handshakeStarted: boolean
}

/**
 * Turns a failed libp2p dial into what `mesh peers` tells the user. Measured against what
 * libp2p 3 throws: another mesh key garbles the first handshake message, so the far side resets
 * the connection (`EncryptionFailedError: read ECONNRESET`) or the dial times out, always after
 * the handshake began; a host that copies a member's peer id fails noise with "does not match
 * expected remote identity key"; a host that is down, hung (SIGSTOP) or cut off times out
 * before the handshake began, since its kernel may accept the TCP connection but nothing answers.
 */
export function classifyDialError (err: unknown, progress?: DialProgress): string {
  const e = err as { name?: string, code?: string, message?: string, errors?: unknown[] }
  const text = `${e.name ?? ''} ${e.code ?? ''} ${e.message ?? ''}`
  if (e.errors !== undefined && e.errors.length > 0) return classifyDialError(e.errors[0], progress)
  if (/UnexpectedPeer|unexpected peer|does not match/i.test(text)) return 'id mismatch: the host does not hold the identity it advertises'
  if (/AddressMismatch/.test(text)) return 'not verified yet: its peer id answered at another address'
  if (/UnsupportedProtocol/.test(text)) return 'no status service: it holds the mesh key but does not speak /buildmesh/status/1.0.0 (another version?)'
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/.test(text)) return 'unreachable: nothing answers on its mesh port'
  const timedOut = /ETIMEDOUT|TimeoutError|AbortError|aborted/i.test(text)
  if (timedOut && (progress?.handshakeStarted === false || /connect/i.test(text))) return 'unreachable: connection timed out'
  return 'wrong mesh key: the handshake failed'
}
