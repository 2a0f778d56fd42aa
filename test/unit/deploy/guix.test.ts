import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { agentOptions } from '../../../cli/commands/agent.ts'
import { renderGuixMachines } from '../../../scheduler/guix-machines.ts'
import { advertisement, ED25519_KEY } from '../../support/advertisements.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const STORE = '/gnu/store/00000000000000000000000000000000-'

/**
 * deploy/guix/buildmesh.scm as real Guile loads it against stand-ins for Guix: what it
 * declares for a builder and a master, and what its machines.scm makes of files the agent
 * writes (and of one it would never write).
 */
describe('the Guix service', () => {
  let dir: string
  let facts: any

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'buildmesh-guix-'))
    const tree = join(dir, 'lib/node_modules/buildmesh')
    await mkdir(tree, { recursive: true })
    await writeFile(join(tree, 'package.json'), JSON.stringify({ name: 'buildmesh', version: '1.2.3' }, null, 2))
    const builder = { host: '192.168.1.10', advertisement: advertisement({ sshUser: 'buildmesh' }) }
    await writeFile(join(dir, 'valid.scm'), renderGuixMachines([builder], { sshKeyPath: '/var/lib/buildmesh/ssh/id_ed25519', overloadThreshold: 0.8 }))
    await writeFile(join(dir, 'tampered.scm'), '(list (build-machine (name (begin (mkdir "' + join(dir, 'pwned') + '") "x"))))\n')
    const { stdout, stderr } = await promisify(execFile)('guile', [
      '--no-auto-compile', join(import.meta.dirname, 'stand-ins/guix-check.scm'), join(ROOT, 'deploy/guix/buildmesh.scm'), tree, dir
    ], { env: { ...process.env, GUILE_AUTO_COMPILE: '0' } })
    facts = { ...JSON.parse(stdout), stderr }
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('exports the package, the service and the wiring for sshd and guix offload', () => {
    expect(facts.exports).toEqual([
      '%buildmesh-guix-machines', 'buildmesh-configuration', 'buildmesh-configuration?', 'buildmesh-package',
      'buildmesh-service-type', 'buildmesh-sshd-extra-content'
    ])
  })

  it('packages an installed npm tree with Node and a mesh command', () => {
    expect(facts.package).toMatchObject({
      name: 'buildmesh',
      version: '1.2.3',
      source: { file: join(dir, 'lib/node_modules/buildmesh'), 'recursive?': true },
      buildSystem: 'copy-build-system',
      inputs: ['bash-minimal', 'node']
    })
    expect(facts.package.arguments).toContain('(quote (("." "lib/node_modules/buildmesh")))')
    expect(facts.package.arguments).toContain('(search-input-file inputs "/bin/node")')
    expect(facts.package.arguments).toContain('/lib/node_modules/buildmesh/bin/mesh.js')
  })

  it('runs a builder\'s agent as the build user, with a copy of the mesh key', () => {
    const builder = facts.builder
    expect(builder.targets).toEqual(['shepherd-root', 'account', 'activation', 'etc'])
    expect(builder.provision).toEqual(['buildmesh'])
    expect(builder.requirement).toEqual(['user-processes', 'networking'])
    expect(builder.command).toEqual([
      `${STORE}buildmesh/bin/mesh`, 'agent', '--mesh-key', '/run/buildmesh/mesh.key',
      '--state-dir', '/var/lib/buildmesh', '--socket', '/run/buildmesh/agent.sock', '--p2p-port', '4717'
    ])
    expect(builder.options).toEqual({ user: 'buildmesh', group: 'buildmesh', 'log-file': '/var/log/buildmesh.log' })
    expect(builder.account).toEqual({ name: 'buildmesh', system: true, home: '/var/lib/buildmesh', shell: `${STORE}bash/bin/bash` })
    expect(builder.activation).toContain('(chmod "/var/lib/buildmesh" 448)')
    expect(builder.etc).toEqual([])
  })

  it('makes a master write /etc/guix/machines.scm, and passes its options to the agent', () => {
    const known = new Set(agentOptions.map((o) => `--${o.flag}`))
    expect(facts.master.command.filter((w: string) => w.startsWith('--') && !known.has(w))).toEqual([])
    expect(facts.master.command.slice(8)).toEqual(['--p2p-port', '4800', '--master', '--no-builder', '--slots', '2'])
    expect(facts.master.etc).toEqual(['guix/machines.scm'])
    expect(facts.machineFile).toBe('machines.scm')
  })

  it('has machines.scm evaluate the list the agent writes', () => {
    expect(facts.machines).toEqual([{
      name: '192.168.1.10',
      port: 22,
      systems: ['x86_64-linux', 'i686-linux'],
      'host-key': ED25519_KEY,
      user: 'buildmesh',
      'private-key': '/var/lib/buildmesh/ssh/id_ed25519',
      'parallel-builds': 16,
      speed: 2,
      features: ['kvm', 'big-parallel', 'nixos-test', 'benchmark'],
      'overload-threshold': 0.8
    }])
    expect(facts.missing).toEqual([])
  })

  it('has machines.scm refuse, without running it, a list holding anything but literal fields', async () => {
    expect(facts.tampered).toEqual([])
    expect(facts.stderr).toContain(`${join(dir, 'tampered.scm')} is not a list of build-machine forms with literal fields: ignoring it`)
    await expect(promisify(execFile)('test', ['-e', join(dir, 'pwned')])).rejects.toThrow()
  })

  it('gives sshd the agent\'s authorized_keys for the build user', () => {
    expect(facts.sshd).toBe('Match User buildmesh\n  AuthorizedKeysFile /var/lib/buildmesh/authorized_keys\n')
  })
})
