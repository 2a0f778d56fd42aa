import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { nixRunAlive } from '../../../scheduler/nix-run.ts'

const NOBODY = 65534
const NIX_RUN = new URL('../../../scheduler/nix-run.ts', import.meta.url).pathname

/** nixRunAlive(pid) as an agent running as `nobody` sees it: the agent never runs as the user Nix builds as. */
async function aliveToNobody (pid: number): Promise<boolean> {
  const script = `import { nixRunAlive } from '${NIX_RUN}'; process.stdout.write(String(nixRunAlive(${pid})))`
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { uid: NOBODY, gid: NOBODY, cwd: '/' })
  return stdout === 'true'
}

describe('nixRunAlive', () => {
  it('is true while a process runs and false once it has ended', async () => {
    const child = spawn('sleep', ['30'])
    await once(child, 'spawn')
    const pid = child.pid as number
    expect(nixRunAlive(pid)).toBe(true)
    child.kill()
    await once(child, 'exit')
    expect(nixRunAlive(pid)).toBe(false)
  })

  // Needs root to run a process as another user; CI runs the tests as root.
  it.skipIf(process.getuid?.() !== 0)('holds a run of another user alive (EPERM), not just its own', async () => {
    const child = spawn('sleep', ['30'])
    await once(child, 'spawn')
    const pid = child.pid as number
    try {
      expect(await aliveToNobody(pid)).toBe(true)
      expect(await aliveToNobody(process.pid)).toBe(true)
    } finally {
      child.kill()
      await once(child, 'exit')
    }
    expect(await aliveToNobody(pid)).toBe(false)
  })
})
