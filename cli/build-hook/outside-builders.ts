import type { Writable } from 'node:stream'
import { canBuild } from '../../scheduler/plan-build.ts'
import { machineCapabilities, machineHost } from './builders.ts'
import { settingValue, type Setting, type TryRequest } from './messages.ts'
import type { HookAnswer, RealHook, StderrMode } from './real-hook.ts'

/** Nix's own hook's answer about machines outside the mesh; after an accept the build is the caller's to see through. */
export interface OutsideAnswer {
  hook: RealHook
  reply: HookAnswer | null
}

/**
 * The machines Nix's `builders` setting names that the mesh does not know: hosts no member has,
 * and stores not reached over SSH. The agent cannot weigh them, so Nix's own hook chooses among
 * them as it would without the agent, counting their slots in its lock files. One hook answers
 * request after request, as Nix keeps its hook until it accepts a build; when the machines the
 * mesh does not know change, another takes over.
 */
export class OutsideBuilders {
  private readonly startRealHook: (mode: StderrMode) => Promise<RealHook>
  private readonly settings: Setting[]
  private readonly lines: string[]
  private current: { builders: string, hook: RealHook } | undefined

  constructor (startRealHook: (mode: StderrMode) => Promise<RealHook>, settings: Setting[], lines: string[]) {
    this.startRealHook = startRealHook
    this.settings = settings
    this.lines = lines
  }

  /**
   * Nix's own hook's answer for the request, with only the machines outside the mesh; undefined
   * when none of them could build it, so no hook was asked.
   */
  async offer (request: TryRequest, strangers: string[], output: Writable): Promise<OutsideAnswer | undefined> {
    const thisSystem = settingValue(this.settings, 'system') ?? request.system
    const outside = this.lines.filter((line) => {
      const host = machineHost(line)
      return host === null || strangers.includes(host)
    })
    if (!outside.some((line) => canBuild(machineCapabilities(line, thisSystem), request))) return undefined
    const builders = outside.join('\n')
    let reply: HookAnswer | null
    let hook: RealHook
    if (this.current?.builders === builders) {
      hook = this.current.hook
      reply = await hook.ask(request, output)
    } else {
      await this.stop()
      hook = await this.startRealHook('watch')
      this.current = { builders, hook }
      reply = await hook.offer(this.settings, builders, request, output)
    }
    // Accepted, the build has it; ended, it answers nothing more.
    if (reply === null || reply.answer === 'accept') this.current = undefined
    return { hook, reply }
  }

  async stop (): Promise<void> {
    const current = this.current
    this.current = undefined
    await current?.hook.stop()
  }
}
