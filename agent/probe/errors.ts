import { UsageError } from '../../common/errors.ts'

/**
 * The host key file named with `--ssh-host-key` is unreadable or holds no public key. Unlike a
 * probed key, which is optional, a key the user named must not be silently dropped: masters
 * would pin nothing and the user would not learn why.
 */
export class SshHostKeyError extends UsageError {
  readonly file: string

  constructor (file: string, reason: string) {
    super(`--ssh-host-key ${file}: ${reason}`, 'ERR_SSH_HOST_KEY')
    this.file = file
  }
}
