/**
 * Turns a failed libp2p dial into what `mesh peers` tells the user. The private-network
 * protector scrambles everything for a host with another key, so a wrong key shows up as a
 * handshake that fails or never completes after the TCP connection was accepted.
 */
export function classifyDialError (err: unknown): string {
  const e = err as { name?: string, code?: string, message?: string, errors?: unknown[] }
  const text = `${e.name ?? ''} ${e.code ?? ''} ${e.message ?? ''}`
  if (e.errors !== undefined && e.errors.length > 0) return classifyDialError(e.errors[0])
  if (/UnexpectedPeer|unexpected peer|does not match/i.test(text)) return 'id mismatch: the host does not hold the identity it advertises'
  if (/ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL/.test(text)) return 'unreachable: nothing answers on its mesh port'
  if (/ETIMEDOUT|TimeoutError|aborted/i.test(text) && /connect/i.test(text)) return 'unreachable: connection timed out'
  return 'wrong mesh key: the handshake failed'
}
