import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { agentConfigFrom, agentOptions } from '../../../cli/commands/agent.ts'
import { configKey, parseOptions } from '../../../cli/options.ts'

async function configFile (content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bm-opts-'))
  const path = join(dir, 'agent.json')
  await writeFile(path, content)
  return path
}

describe('agent options', () => {
  it('maps flags to config keys', () => {
    expect(configKey('nix-machines')).toBe('nixMachines')
    expect(configKey('mandatory-features')).toBe('mandatoryFeatures')
  })

  it('embedded defaults: a builder, not a master, probing everything', async () => {
    const { values } = await parseOptions([], agentOptions, {})
    const config = agentConfigFrom(values, {})
    expect(config.builder).toBe(true)
    expect(config.master).toBe(false)
    expect(config.nixMachinesPath).toBeUndefined()
    expect(Object.values(config.overrides).every((v) => v === undefined)).toBe(true)
    expect(config.meshKeyPath).toBe('/etc/buildmesh/mesh.key')
    expect(config.p2pPort).toBe(4717)
    expect(config.overloadThreshold).toBe(0.8)
  })

  it('a master writes its lists under the state directory by default', async () => {
    const { values } = await parseOptions(['--master', '--state-dir', '/srv/bm'], agentOptions, {})
    const config = agentConfigFrom(values, {})
    expect(config.nixMachinesPath).toBe('/srv/bm/nix-machines')
    expect(config.guixMachinesPath).toBe('/srv/bm/guix-machines.scm')
    expect(config.sshKeyPath).toBe('/srv/bm/ssh/id_ed25519')
    expect(config.authorizedKeysPath).toBe('/srv/bm/authorized_keys')
  })

  it('flags win over the config file, which wins over the environment', async () => {
    const path = await configFile(JSON.stringify({ slots: 3, systems: ['aarch64-linux'], socket: '/from/file.sock', master: true }))
    const { values } = await parseOptions(['--config', path, '--slots', '5'], agentOptions, { BUILDMESH_SOCKET: '/from/env.sock' })
    const config = agentConfigFrom(values, {})
    expect(config.overrides.slots).toBe(5)
    expect(config.overrides.systems).toEqual(['aarch64-linux'])
    expect(config.socketPath).toBe('/from/file.sock')
    expect(config.master).toBe(true)
  })

  it('reads the socket from BUILDMESH_SOCKET when nothing else gives it', async () => {
    const { values } = await parseOptions([], agentOptions, { BUILDMESH_SOCKET: '/from/env.sock' })
    expect(agentConfigFrom(values, {}).socketPath).toBe('/from/env.sock')
  })

  it('splits comma-separated lists', async () => {
    const { values } = await parseOptions(['--features', 'kvm, big-parallel,,nixos-test'], agentOptions, {})
    expect(values.features).toEqual(['kvm', 'big-parallel', 'nixos-test'])
  })

  it.each([
    [['--slots', 'many'], /--slots: expects a whole number/],
    [['--slots', '0'], /--slots: must be at least 1/],
    [['--ssh-port', '70000'], /--ssh-port: must be at most 65535/],
    [['--overload-threshold', '1.5'], /must be at most 1/],
    [['--log-level', 'loud'], /--log-level: expects trace/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['--master=yes'], /--master/],
    [['--name', 'bad name'], /^--name: "bad name" is not/],
    [['--systems', 'x86_64-linux,evil;x'], /^--systems: "evil;x" is not a Nix system type/],
    [['--features', 'kvm,#x'], /^--features: /],
    [['--ssh-user', 'Root User'], /^--ssh-user: /]
  ])('rejects %j with one clear line', async (argv, message) => {
    const error = await parseOptions(argv, agentOptions, {}).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'ERR_USAGE', exitCode: 2 })
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain('\n')
  })

  it.each([
    ['{ not json', /not valid JSON/],
    ['[1, 2]', /expects a JSON object/],
    ['{"slotz": 3}', /unknown key "slotz"/],
    ['{"slots": "3.5"}', /slots: expects a whole number/],
    ['{"master": "yes"}', /master: expects true or false/]
  ])('rejects config file %s', async (content, message) => {
    const path = await configFile(content)
    await expect(parseOptions(['--config', path], agentOptions, {})).rejects.toThrow(message)
  })

  it('names a missing config file', async () => {
    await expect(parseOptions(['--config', '/nonexistent/agent.json'], agentOptions, {})).rejects.toThrow('--config /nonexistent/agent.json: no such file')
  })
})
