import type { ProbeDeps } from './deps.ts'

export const BINFMT_DIR = '/proc/sys/fs/binfmt_misc'

/** A registered binfmt_misc handler, as the kernel prints it in its file. */
export interface BinfmtEntry {
  name: string
  enabled: boolean
  interpreter: string | undefined
  offset: number
  magic: Uint8Array | undefined
  mask: Uint8Array | undefined
}

/** Nix system types the kernel can run through an enabled binfmt_misc handler (e.g. qemu-user). */
export async function probeBinfmtSystems (deps: Pick<ProbeDeps, 'readFile' | 'readdir' | 'log'>): Promise<string[]> {
  let names: string[]
  try {
    names = await deps.readdir(BINFMT_DIR)
  } catch (err) {
    deps.log.debug({ err }, 'binfmt_misc is not mounted')
    return []
  }
  const systems: string[] = []
  for (const name of names.filter((entry) => entry !== 'register' && entry !== 'status').sort()) {
    let text: string
    try {
      text = await deps.readFile(`${BINFMT_DIR}/${name}`)
    } catch (err) {
      deps.log.warn({ name, err }, 'cannot read binfmt_misc entry')
      continue
    }
    const entry = parseBinfmtEntry(name, text)
    if (!entry.enabled) continue
    const system = binfmtSystem(entry)
    if (system === undefined) {
      deps.log.debug({ name, interpreter: entry.interpreter }, 'binfmt_misc entry runs no known system')
    } else if (!systems.includes(system)) {
      systems.push(system)
    }
  }
  return systems
}

export function parseBinfmtEntry (name: string, text: string): BinfmtEntry {
  const entry: BinfmtEntry = { name, enabled: false, interpreter: undefined, offset: 0, magic: undefined, mask: undefined }
  for (const line of text.split('\n')) {
    const [key, value = ''] = line.trim().split(/\s+/, 2)
    if (key === 'enabled') entry.enabled = true
    else if (key === 'interpreter') entry.interpreter = value
    else if (key === 'offset') entry.offset = Number.parseInt(value, 10)
    else if (key === 'magic') entry.magic = fromHex(value)
    else if (key === 'mask') entry.mask = fromHex(value)
  }
  return entry
}

/** The system an entry runs: from the ELF header it matches, else from the interpreter's or entry's name. */
export function binfmtSystem (entry: BinfmtEntry): string | undefined {
  return elfSystem(entry) ?? nameSystem(basename(entry.interpreter ?? '')) ?? nameSystem(entry.name)
}

const EI_CLASS = 4
const EI_DATA = 5
const E_MACHINE = 18
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46]
const CLASS_32 = 1
const CLASS_64 = 2
const LITTLE = 1
const BIG = 2

// [e_machine, EI_CLASS, EI_DATA] -> Nix system type.
const ELF_SYSTEMS: Array<[number, number, number, string]> = [
  [0x3e, CLASS_64, LITTLE, 'x86_64-linux'],
  [0x03, CLASS_32, LITTLE, 'i686-linux'],
  [0xb7, CLASS_64, LITTLE, 'aarch64-linux'],
  [0x28, CLASS_32, LITTLE, 'armv7l-linux'],
  [0xf3, CLASS_64, LITTLE, 'riscv64-linux'],
  [0xf3, CLASS_32, LITTLE, 'riscv32-linux'],
  [0x15, CLASS_64, BIG, 'powerpc64-linux'],
  [0x15, CLASS_64, LITTLE, 'powerpc64le-linux'],
  [0x16, CLASS_64, BIG, 's390x-linux'],
  [0x102, CLASS_64, LITTLE, 'loongarch64-linux']
]

function elfSystem (entry: BinfmtEntry): string | undefined {
  const byte = (index: number): number | undefined => {
    const at = index - entry.offset
    const value = entry.magic?.[at]
    if (value === undefined) return undefined
    // qemu's i386 and x86_64 masks let EI_DATA be 0 or 1 (mask 0xfe): a byte the mask pins
    // partly still says what the handler is for; only an unmasked one says nothing.
    return entry.mask?.[at] === 0 ? undefined : value
  }
  if (!ELF_MAGIC.every((value, index) => byte(index) === value)) return undefined
  const elfClass = byte(EI_CLASS)
  const data = byte(EI_DATA)
  const low = byte(data === BIG ? E_MACHINE + 1 : E_MACHINE)
  const high = byte(data === BIG ? E_MACHINE : E_MACHINE + 1)
  if (low === undefined || high === undefined) return undefined
  const machine = low | (high << 8)
  return ELF_SYSTEMS.find(([m, c, d]) => m === machine && c === elfClass && d === data)?.[3]
}

// qemu's names for its user-mode emulators, as Nix system types.
const QEMU_SYSTEMS: Record<string, string> = {
  x86_64: 'x86_64-linux',
  i386: 'i686-linux',
  aarch64: 'aarch64-linux',
  arm: 'armv7l-linux',
  riscv64: 'riscv64-linux',
  riscv32: 'riscv32-linux',
  ppc64: 'powerpc64-linux',
  ppc64le: 'powerpc64le-linux',
  s390x: 's390x-linux',
  loongarch64: 'loongarch64-linux'
}

// `qemu-aarch64`, `qemu-aarch64-static`, Debian's `aarch64-binfmt-P`, and NixOS's entries
// and wrappers named after the system itself.
function nameSystem (name: string): string | undefined {
  const qemu = /^qemu-([a-z0-9_]+?)(?:-static)?$/.exec(name) ?? /^([a-z0-9_]+)-binfmt(?:-P)?$/.exec(name)
  if (qemu?.[1] !== undefined) return QEMU_SYSTEMS[qemu[1]]
  return Object.values(QEMU_SYSTEMS).find((system) => system === name)
}

function basename (path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

function fromHex (hex: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})+$/i.test(hex)) return undefined
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16))
}
