// Node's names for CPUs, as Nix spells them in system types.
const NIX_CPU: Record<string, string> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  riscv64: 'riscv64',
  ia32: 'i686',
  arm: 'armv7l',
  // Node builds for ppc64 only exist little-endian on Linux.
  ppc64: 'powerpc64le',
  s390x: 's390x',
  loong64: 'loongarch64',
  mips64el: 'mips64el'
}

/** The Nix system type of this machine from Node's `process.arch` and `process.platform`. */
export function nativeSystem (arch: string, platform: string): string {
  return `${NIX_CPU[arch] ?? arch}-${platform}`
}
