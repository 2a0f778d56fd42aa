import type { RealHook } from './real-hook.ts'

/**
 * What Nix writes to the hook after an accept: the inputs to copy there and the outputs to copy
 * back, after which it closes the hook's stdin. Resolves to all of it, kept for a build that has
 * to be done again elsewhere; with `hook`, Nix's own hook that took the build, each piece is
 * passed on as it comes and that hook's stdin closed as Nix closes ours.
 */
export async function inputAfterAccept (buffered: Buffer, rest: AsyncIterator<Buffer | string>, hook?: RealHook): Promise<Buffer> {
  const chunks = [buffered]
  await hook?.write(buffered)
  try {
    for (let next = await rest.next(); next.done !== true; next = await rest.next()) {
      const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value
      chunks.push(chunk)
      await hook?.write(chunk)
    }
  } catch {
    // Our stdin broke: Nix is gone, the same as had it closed it.
  }
  hook?.closeInput()
  return Buffer.concat(chunks)
}
