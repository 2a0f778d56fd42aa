import { describe, expect, it } from 'vitest'
import { realHookCommand, withSshTimeouts } from '../../../../cli/build-hook/real-hook.ts'

describe('Nix\'s own hook as the proxy runs it', () => {
  it('is nix run as build-remote unless given, and any other program by its own name', () => {
    expect(realHookCommand(undefined)).toEqual({ file: 'nix', argv0: 'build-remote' })
    expect(realHookCommand('/run/current-system/sw/bin/nix')).toEqual({ file: '/run/current-system/sw/bin/nix', argv0: 'build-remote' })
    expect(realHookCommand('/usr/libexec/nix/build-remote')).toEqual({ file: '/usr/libexec/nix/build-remote', argv0: 'build-remote' })
  })

  it('has ssh end a connection to a builder that stopped answering or never did, after the user\'s own options, which win', () => {
    const keepalive = '-o ServerAliveInterval=5 -o ServerAliveCountMax=3 -o ConnectTimeout=10'
    expect(withSshTimeouts({ PATH: '/bin' })).toEqual({ PATH: '/bin', NIX_SSHOPTS: keepalive })
    expect(withSshTimeouts({ NIX_SSHOPTS: '  ' }).NIX_SSHOPTS).toBe(keepalive)
    expect(withSshTimeouts({ NIX_SSHOPTS: '-o ServerAliveInterval=30 -p 2222' }).NIX_SSHOPTS).toBe(`-o ServerAliveInterval=30 -p 2222 ${keepalive}`)
  })
})
