/** What a test sshd needs to differ in; the rest is the same for every test sshd. */
export interface SshdConfigInit {
  address: string
  port: number
  hostKeyFile: string
  authorizedKeysFile: string
  pidFile: string
}

/** An sshd_config for a test's own sshd: keys only, no PAM, no ownership checks on test files. */
export function sshdConfig (init: SshdConfigInit): string {
  return [
    `ListenAddress ${init.address}`,
    `Port ${init.port}`,
    `HostKey ${init.hostKeyFile}`,
    `AuthorizedKeysFile ${init.authorizedKeysFile}`,
    `PidFile ${init.pidFile}`,
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // Reverse lookups would only wait on a resolver these hosts cannot reach.
    'UseDNS no',
    'PrintMotd no',
    ''
  ].join('\n')
}
