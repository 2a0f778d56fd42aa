import { canBuild, type Candidate } from '../../scheduler/plan-build.ts'

/** The machines of a simulated LAN: the master first, then its builders in machines-file order. */

/** A machine as the planner sees one, before any live status. */
export type Machine = Omit<Candidate, 'slotsInUse' | 'load' | 'endsIn'>

export interface MachineSet {
  name: string
  machines: Machine[]
}

export const SYSTEM = 'x86_64-linux'

// NixOS puts big-parallel in every machine's system-features by default, and the mesh advertises
// a builder's own features, so every simulated machine offers it.
const machine = (name: string, local: boolean, speed: number, cores: number, slots: number): Machine =>
  ({ name, local, systems: [SYSTEM], supportedFeatures: ['big-parallel'], mandatoryFeatures: [], slots, cores, speed })

export const machineSets: MachineSet[] = [
  {
    name: 'A master fastest',
    machines: [machine('master', true, 4, 8, 4), machine('b1', false, 1, 2, 2), machine('b2', false, 1, 2, 2), machine('b3', false, 1, 2, 2)]
  },
  {
    name: 'B master slow',
    machines: [machine('master', true, 0.5, 2, 2), machine('b1', false, 1, 4, 2), machine('b2', false, 1.5, 4, 2), machine('b3', false, 2, 8, 4)]
  },
  {
    name: 'C all equal',
    machines: [machine('master', true, 1, 4, 2), machine('b1', false, 1, 4, 2), machine('b2', false, 1, 4, 2), machine('b3', false, 1, 4, 2)]
  }
]

export const master = (machines: Machine[]): Machine => {
  const m = machines.find((x) => x.local)
  if (m === undefined) throw new Error('a machine set needs its master')
  return m
}

/** Nix's and Guix's rule, the planner's own: the system, every required feature, and all its mandatory ones required. */
export const matches = (m: Machine, system: string, requiredFeatures: string[]): boolean => canBuild(m, { system, requiredFeatures })
