import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { DEFAULT_P2P_PORT } from '../../../cli/commands/agent.ts'
import { agentOptions } from '../../../cli/commands/agent.ts'
import { DEFAULT_MESH_KEY_PATH } from '../../../common/mesh-key.ts'

const ROOT = resolve(import.meta.dirname, '../../..')
const STAND_INS = join(import.meta.dirname, 'stand-ins')
const run = promisify(execFile)

/** The value of a Nix expression, through the real nix-instantiate. */
async function evaluate (expression: string): Promise<any> {
  const { stdout } = await run('nix-instantiate', ['--eval', '--strict', '--json', '-E', expression], { cwd: ROOT })
  return JSON.parse(stdout)
}

/** services.buildmesh evaluated with the stand-in lib: option declarations, and what it defines for `values`. */
async function module (values: Record<string, unknown> = {}, { openssh = true } = {}): Promise<any> {
  return await evaluate(`import ${STAND_INS}/module.nix { values = builtins.fromJSON ${JSON.stringify(JSON.stringify(values))}; openssh = ${String(openssh)}; }`)
}

/** The flags of a command line, checked to be options `mesh agent` knows. */
function agentFlags (commandLine: string): string[] {
  const known = new Set(agentOptions.map((o) => `--${o.flag}`))
  const flags = commandLine.split(' ').filter((w) => w.startsWith('--'))
  expect(flags.filter((f) => !known.has(f))).toEqual([])
  return flags
}

describe('the Nix files', () => {
  it.each(['flake.nix', 'deploy/nix/package.nix', 'deploy/nix/module.nix'])('%s parses', async (file) => {
    await expect(run('nix-instantiate', ['--parse', file], { cwd: ROOT })).resolves.toBeDefined()
  })

  it('declares services.buildmesh with the agent\'s own defaults', async () => {
    const { options } = await module()
    expect(options).toEqual({
      enable: { type: 'bool', default: false, documented: true },
      package: { type: 'package', default: 'pkgs.callPackage ./package.nix { }', documented: true },
      master: { type: 'bool', default: false, documented: true },
      builder: { type: 'bool', default: true, documented: true },
      buildUser: { type: 'str', default: 'buildmesh', documented: true },
      meshKeyFile: { type: 'str', default: DEFAULT_MESH_KEY_PATH, documented: true },
      p2pPort: { type: 'port', default: DEFAULT_P2P_PORT, documented: true },
      openFirewall: { type: 'bool', default: true, documented: true },
      useBuildHook: { type: 'bool', default: false, documented: true },
      settings: { type: 'json', default: {}, documented: true }
    })
  })

  it('defines nothing unless enabled', async () => {
    expect((await module()).config).toEqual({})
  })

  it('makes a builder: a hardened agent as the build user, trusted by Nix, whose keys sshd reads', async () => {
    const { config } = await module({ enable: true })
    const service = config.systemd.services.buildmesh
    const unit = service.serviceConfig
    expect(unit.ExecStart).toBe('/nix/store/00000000000000000000000000000000-buildmesh/bin/mesh agent ' +
      '--config /nix/store/00000000000000000000000000000000-buildmesh.json --mesh-key %d/mesh.key ' +
      '--state-dir /var/lib/buildmesh --socket /run/buildmesh/agent.sock --p2p-port 4717')
    expect(agentFlags(unit.ExecStart)).not.toContain('--master')
    expect(unit).toMatchObject({
      User: 'buildmesh',
      Group: 'buildmesh',
      DynamicUser: false,
      StateDirectory: 'buildmesh',
      StateDirectoryMode: '0700',
      RuntimeDirectory: 'buildmesh',
      LoadCredential: 'mesh.key:/etc/buildmesh/mesh.key',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
      NoNewPrivileges: true,
      ProtectSystem: 'strict'
    })
    expect(unit.MemoryDenyWriteExecute).toBeUndefined()
    expect(service.path).toEqual(['/nix/store/00000000000000000000000000000000-nix'])
    expect(service.wantedBy).toEqual(['multi-user.target'])

    expect(config.users.users.buildmesh).toMatchObject({ isSystemUser: true, group: 'buildmesh', useDefaultShell: true })
    expect(config.users.groups).toEqual({ buildmesh: {} })
    expect(config.nix.settings).toEqual({ 'trusted-users': ['buildmesh'] })
    expect(config.nix.distributedBuilds).toBeUndefined()
    expect(config.services.openssh.extraConfig).toBe('Match User buildmesh\n  AuthorizedKeysFile /var/lib/buildmesh/authorized_keys\n')
    expect(config.networking.firewall).toEqual({ allowedUDPPorts: [5353], allowedTCPPorts: [4717] })
    expect(config.environment.systemPackages).toEqual(['/nix/store/00000000000000000000000000000000-buildmesh'])
    expect(config.assertions.every((a: { assertion: boolean }) => a.assertion)).toBe(true)
  })

  it('makes a master that is not a builder: a DynamicUser agent, and Nix reading its list', async () => {
    const { config } = await module({ enable: true, master: true, builder: false, p2pPort: 4800, openFirewall: false }, { openssh: false })
    const unit = config.systemd.services.buildmesh.serviceConfig
    expect(agentFlags(unit.ExecStart)).toEqual(['--config', '--mesh-key', '--state-dir', '--socket', '--p2p-port', '--master', '--no-builder'])
    expect(unit.ExecStart).toContain('--p2p-port 4800 --master --no-builder')
    expect(unit).toMatchObject({ DynamicUser: true, User: 'buildmesh', StateDirectory: 'buildmesh' })
    expect(config.users).toBeUndefined()
    expect(config.services).toBeUndefined()
    expect(config.networking.firewall).toBeUndefined()
    expect(config.nix).toEqual({ distributedBuilds: true, settings: { builders: '@/var/lib/buildmesh/nix-machines' } })
    expect(config.assertions.every((a: { assertion: boolean }) => a.assertion)).toBe(true)
  })

  it('makes mesh build-hook Nix\'s build hook on a master that asks for it', async () => {
    const { config } = await module({ enable: true, master: true, useBuildHook: true })
    expect(config.nix.settings['build-hook']).toEqual(['/nix/store/00000000000000000000000000000000-buildmesh/bin/mesh', 'build-hook'])
    expect(config.nix.settings['trusted-users']).toEqual(['buildmesh'])
  })

  it('refuses a builder without sshd, and a build hook without a master', async () => {
    const { config } = await module({ enable: true, useBuildHook: true }, { openssh: false })
    expect(config.assertions.filter((a: { assertion: boolean }) => !a.assertion).map((a: { message: string }) => a.message)).toEqual([
      'services.buildmesh.builder needs services.openssh.enable: masters offload to builders over SSH.',
      'services.buildmesh.useBuildHook needs services.buildmesh.master: only a master picks builders.'
    ])
  })

  it('builds the package from the sources tsconfig.build.json compiles, with Node 22', async () => {
    const pkg = await evaluate(`let
      pkg = import ./deploy/nix/package.nix {
        lib = import ${STAND_INS}/lib.nix;
        buildNpmPackage = args: args;
        importNpmLock = { __functor = _: { npmRoot }: "npm-deps"; npmConfigHook = "npm-config-hook"; };
        nodejs_22 = "nodejs_22";
      };
    # Paths as strings: printed as they are, they would be copied to the store.
    in pkg // { src = map toString pkg.src.fileset; }`)
    const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    expect(pkg).toMatchObject({
      pname: packageJson.name,
      version: packageJson.version,
      nodejs: 'nodejs_22',
      npmDeps: 'npm-deps',
      npmConfigHook: 'npm-config-hook',
      npmFlags: ['--ignore-scripts'],
      meta: { mainProgram: Object.keys(packageJson.bin)[0], license: 'mit' }
    })
    const build = JSON.parse(readFileSync(join(ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\/\/.*$/gm, ''))
    const inSource = new Set((pkg.src as string[]).map((p) => p.slice(ROOT.length + 1)))
    for (const needed of [...build.include, 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'bin']) {
      expect(inSource, needed).toContain(needed)
    }
  })

  it('has a flake exposing the package and the module', async () => {
    const outputs = await evaluate(`let
      lib = import ${STAND_INS}/lib.nix;
      callPackage = file: _: { file = toString file; };
      flake = import ./flake.nix;
      outputs = flake.outputs {
        nixpkgs = { inherit lib; legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: { inherit callPackage; }); };
      };
    in outputs // {
      nixosModules.default = toString outputs.nixosModules.default;
      nixpkgsUrl = flake.inputs.nixpkgs.url;
    }`)
    expect(outputs).toEqual({
      packages: {
        'x86_64-linux': { default: { file: join(ROOT, 'deploy/nix/package.nix') } },
        'aarch64-linux': { default: { file: join(ROOT, 'deploy/nix/package.nix') } }
      },
      nixosModules: { default: join(ROOT, 'deploy/nix/module.nix') },
      nixpkgsUrl: 'github:NixOS/nixpkgs/nixos-unstable'
    })
  })
})
