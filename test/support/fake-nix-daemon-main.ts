import { serveFakeNixDaemon } from './fake-nix-daemon.ts'

// A forced command for a real sshd: `node fake-nix-daemon-main.ts trusted|untrusted`.
await serveFakeNixDaemon(process.stdin, process.stdout, { trusted: process.argv[2] !== 'untrusted' })
