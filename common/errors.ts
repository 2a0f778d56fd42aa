/**
 * Every failure a user can see is one of these: a stable `code` for scripts and tests,
 * and an `exitCode` the CLI returns (2 for a usage error, 1 for a runtime failure).
 */
export class BuildmeshError extends Error {
  readonly code: string
  readonly exitCode: number

  constructor (code: string, message: string, exitCode = 1, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.exitCode = exitCode
  }
}

/** Bad flags, config values or arguments: exit 2. */
export class UsageError extends BuildmeshError {
  constructor (message: string, code = 'ERR_USAGE') {
    super(code, message, 2)
  }
}

/** A field that came from the network (TXT, packet, status message) failed validation. */
export class InvalidFieldError extends BuildmeshError {
  readonly field: string

  constructor (field: string, message: string) {
    super('ERR_INVALID_FIELD', `${field}: ${message}`)
    this.field = field
  }
}

/** The local agent's control socket could not be reached or answered badly. */
export class AgentUnreachableError extends BuildmeshError {
  constructor (socketPath: string, cause?: unknown) {
    super('ERR_AGENT_UNREACHABLE', `cannot reach the buildmesh agent at ${socketPath}: is \`mesh agent\` running? (set --socket or BUILDMESH_SOCKET)`, 1, { cause })
  }
}
