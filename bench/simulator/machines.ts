/** The machines of a simulated LAN: the master first, then its builders in machines-file order. */

export interface Machine {
  name: string
  /** The master: Nix builds here when the hook declines. */
  local: boolean
  systems: string[]
  supportedFeatures: string[]
  mandatoryFeatures: string[]
  /** `max-jobs` on the master; maxJobs (Nix) or parallel-builds (Guix) for a builder. */
  slots: number
  cores: number
  /** Relative single-core speed; it is also the builder's speedFactor (Nix) and speed (Guix). */
  speed: number
}

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

/** Nix's and Guix's rule: the system, every required feature, and all its mandatory ones required. */
export const matches = (m: Machine, system: string, features: string[]): boolean =>
  m.systems.includes(system) &&
  features.every((f) => m.supportedFeatures.includes(f) || m.mandatoryFeatures.includes(f)) &&
  m.mandatoryFeatures.every((f) => features.includes(f))
