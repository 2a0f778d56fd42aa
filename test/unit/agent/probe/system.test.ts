import { execFileSync, spawnSync } from 'node:child_process'
import { arch, platform } from 'node:os'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { systemProbeDeps, type ProbeDeps } from '../../../../agent/probe/deps.ts'
import { probeHost } from '../../../../agent/probe/probe-host.ts'
import { probeLiveStatus } from '../../../../agent/probe/live-status.ts'

const nixInstalled = spawnSync('nix', ['--version']).error === undefined

describe('probing this machine with systemProbeDeps', () => {
  const commands: Array<{ line: string, code: number | null }> = []
  const deps: ProbeDeps = {
    ...systemProbeDeps,
    runCommand: async (command, args, options) => {
      const result = await systemProbeDeps.runCommand(command, args, options)
      commands.push({ line: [command, ...args].join(' '), code: result?.code ?? null })
      return result
    },
    log: pino({ level: 'silent' })
  }

  it('gives sane facts', async () => {
    const facts = await probeHost(deps)
    expect(facts.name).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/)
    if (arch() === 'x64' && platform() === 'linux') expect(facts.systems[0]).toBe('x86_64-linux')
    expect(facts.cores).toBeGreaterThanOrEqual(1)
    expect(facts.slots).toBe(facts.cores)
    expect(facts.freeDiskBytes).toBeGreaterThan(0)
    expect(facts.load).toBeGreaterThanOrEqual(0)
    expect(facts.load).toBeLessThanOrEqual(1)
    expect(facts.sshPort).toBeGreaterThan(0)
    expect(facts.sshUser).not.toBe('')
    if (facts.hostKey !== null) expect(facts.hostKey).toMatch(/^[a-z0-9@.-]+ [A-Za-z0-9+/]+=*$/)

    const live = await probeLiveStatus(deps, facts)
    expect(live.freeDiskBytes).toBeGreaterThan(0)
  })

  it.runIf(nixInstalled)('asks the installed Nix', async () => {
    const facts = await probeHost(deps)
    // Whatever the version, one of the two spellings must have answered.
    expect(commands.some(({ line, code }) => /(config show|show-config) --json$/.test(line) && code === 0)).toBe(true)
    const printed = JSON.parse(execFileSync('nix', ['--extra-experimental-features', 'nix-command', 'show-config', '--json'], { encoding: 'utf8' })) as
      Record<string, { value: unknown }>
    const system = printed.system?.value as string
    const extraPlatforms = printed['extra-platforms']?.value as string[]
    expect(facts.systems).toEqual([...new Set([system, ...extraPlatforms])])
    expect(facts.supportedFeatures).toEqual(printed['system-features']?.value)
  })
})
