/** A seeded generator (mulberry32), so every table the bench prints can be reproduced. */
export interface Rng {
  /** Uniform in [0, 1). */
  next: () => number
  uniform: (lo: number, hi: number) => number
  /** Uniform integer in [lo, hi]. */
  int: (lo: number, hi: number) => number
  /** Log-normal with median 1: multiplies an estimate by a typical error of about `sigma`. */
  noise: (sigma: number) => number
  shuffle: <T>(items: T[]) => T[]
}

export function createRng (seed: number): Rng {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const uniform = (lo: number, hi: number): number => lo + (hi - lo) * next()
  const int = (lo: number, hi: number): number => Math.floor(uniform(lo, hi + 1))
  const noise = (sigma: number): number => {
    // Box-Muller; 1 - next() keeps the logarithm finite.
    const z = Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())
    return Math.exp(sigma * z)
  }
  const shuffle = <T>(items: T[]): T[] => {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(0, i)
      const tmp = out[i] as T
      out[i] = out[j] as T
      out[j] = tmp
    }
    return out
  }
  return { next, uniform, int, noise, shuffle }
}
