import { describe, expect, it } from 'vitest'
import { parseNixConfigJson, queryNixSettings } from '../../../../agent/probe/nix-command.ts'
import { fakeMachine, nix28, NIX_CONFIG_SHOW, NIX_SHOW_CONFIG, nixShowConfigJson, warnings } from './fakes.ts'

describe('parseNixConfigJson', () => {
  it('reads the { name: { value } } form that Nix 2.8 and current Nix print', () => {
    const json = nixShowConfigJson({ system: 'x86_64-linux', extraPlatforms: ['i686-linux', 'aarch64-linux'], systemFeatures: ['kvm', 'big-parallel'] })
    expect(parseNixConfigJson(json)).toEqual({ system: 'x86_64-linux', extraPlatforms: ['i686-linux', 'aarch64-linux'], systemFeatures: ['kvm', 'big-parallel'] })
  })

  it('reads the older flat form with space-separated lists', () => {
    const json = JSON.stringify({ system: 'aarch64-linux', 'extra-platforms': 'armv7l-linux  armv6l-linux', 'system-features': '' })
    expect(parseNixConfigJson(json)).toEqual({ system: 'aarch64-linux', extraPlatforms: ['armv7l-linux', 'armv6l-linux'], systemFeatures: [] })
  })

  it.each([
    ['not JSON', 'warning: something\n'],
    ['not an object', '[]'],
    ['no system', JSON.stringify({ 'extra-platforms': { value: [] } })],
    ['a list of numbers', JSON.stringify({ system: { value: 'x86_64-linux' }, 'system-features': { value: [3] } })]
  ])('rejects %s', (_, text) => {
    expect(() => parseNixConfigJson(text)).toThrow()
  })
})

describe('queryNixSettings', () => {
  const settings = { system: 'x86_64-linux', extraPlatforms: ['aarch64-linux'], systemFeatures: ['kvm'] }

  it('uses `config show` on current Nix', async () => {
    const { deps, commands } = fakeMachine({ commands: { [NIX_CONFIG_SHOW]: { code: 0, stdout: nixShowConfigJson(settings), stderr: '' } } })
    expect(await queryNixSettings(deps)).toEqual(settings)
    expect(commands).toEqual([NIX_CONFIG_SHOW])
  })

  it('falls back to `show-config` on Nix 2.8, without a warning', async () => {
    const { deps, logs, commands } = fakeMachine({ commands: nix28(settings) })
    expect(await queryNixSettings(deps)).toEqual(settings)
    expect(commands).toHaveLength(2)
    expect(warnings(logs)).toEqual([])
  })

  it('finds nix in the default profile when it is not on PATH', async () => {
    const profile = '/nix/var/nix/profiles/default/bin/nix --extra-experimental-features nix-command config show --json'
    const { deps } = fakeMachine({ commands: { [profile]: { code: 0, stdout: nixShowConfigJson(settings), stderr: '' } } })
    expect(await queryNixSettings(deps)).toEqual(settings)
  })

  it('resolves null, quietly, when Nix is not installed', async () => {
    const { deps, logs } = fakeMachine()
    expect(await queryNixSettings(deps)).toBeNull()
    expect(warnings(logs)).toEqual([])
  })

  it('warns and resolves null when nix times out', async () => {
    const killed = { code: null, stdout: '', stderr: '' }
    const { deps, logs } = fakeMachine({
      commands: { [NIX_CONFIG_SHOW]: killed, [NIX_SHOW_CONFIG]: killed }
    })
    expect(await queryNixSettings(deps)).toBeNull()
    expect(warnings(logs)).toEqual(['nix show-config was killed or timed out'])
  })

  it('warns and resolves null when nix prints something else', async () => {
    const { deps, logs } = fakeMachine({ commands: { [NIX_CONFIG_SHOW]: { code: 0, stdout: 'system = x86_64-linux\n', stderr: '' } } })
    expect(await queryNixSettings(deps)).toBeNull()
    expect(warnings(logs)).toEqual(['cannot understand the output of nix show-config'])
  })
})
