import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { derivationOutputs, isDrvPath, parseDerivation, readDerivation } from '../../../scheduler/derivation.ts'

const NIX = `let
  mk = name: inputs: extra: derivation ({ inherit name inputs; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; } // extra);
  lib = mk "lib" [ ] { system = "aarch64-linux"; };
in mk "app" [ lib ] { requiredSystemFeatures = [ "big-parallel" "kvm" ]; outputs = [ "out" "dev" ]; args = [ "-c" "echo > $out; echo > $dev" ]; }
`

describe('the derivation files the real nix-instantiate writes', () => {
  it('give their outputs, their input derivations, their required features and their system', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'buildmesh-drv-'))
    try {
      await writeFile(join(dir, 'app.nix'), NIX)
      const { stdout } = await promisify(execFile)('nix-instantiate', ['--store', join(dir, 'store'), join(dir, 'app.nix')])
      const drvPath = stdout.trim()
      expect(isDrvPath(drvPath)).toBe(true)
      const inStore = (p: string): string => join(dir, 'store', p)
      const app = await readDerivation(drvPath, inStore)
      const name = (p: string): string => p.replace(/^\/nix\/store\/[a-z0-9]{32}-/, '')
      expect(app.outputs.map(name)).toEqual(['app-dev', 'app'])
      expect(app.inputDrvs.map(name)).toEqual(['lib.drv'])
      expect(app.requiredFeatures).toEqual(['big-parallel', 'kvm'])
      expect(app.system).toBe('x86_64-linux')
      const lib = await readDerivation(app.inputDrvs[0] as string, inStore)
      expect(lib).toMatchObject({ inputDrvs: [], requiredFeatures: [], system: 'aarch64-linux' })
      expect(await derivationOutputs(inStore(drvPath))).toEqual(app.outputs)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('take only store paths of derivations as inputs, whatever the environment says', () => {
    const text = 'Derive([("out","/nix/store/00000000000000000000000000000000-x","","")],[("/nix/store/11111111111111111111111111111111-y.drv",["out"]),("/etc/passwd.drv",["out"])],[],"x86_64-linux","/bin/sh",[],[("note","(\\"/nix/store/22222222222222222222222222222222-z.drv\\",[")])'
    expect(parseDerivation(text)).toMatchObject({ inputDrvs: ['/nix/store/11111111111111111111111111111111-y.drv'], system: 'x86_64-linux' })
    expect(parseDerivation('not a derivation')).toEqual({ outputs: [], inputDrvs: [], requiredFeatures: [] })
  })

  it('are recognised by path only in the store', () => {
    expect(isDrvPath('/nix/store/5pnvbg995pzj8nwzd7h85bivr4736qv2-multi.drv')).toBe(true)
    expect(isDrvPath('/etc/shadow')).toBe(false)
    expect(isDrvPath('/nix/store/5pnvbg995pzj8nwzd7h85bivr4736qv2-../../etc/x.drv')).toBe(false)
  })
})
