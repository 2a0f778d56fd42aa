import type { Lan } from './lan.ts'
import type { HostProcess, OutputChunk } from './host-process.ts'
import { describeStatus } from './host-process.ts'

export interface LogReportOptions {
  /** Lines kept from the end of each process's output. Default 200. */
  tailLines?: number
}

/** Every host's processes with their time-stamped output: what a failing test prints. */
export function formatLanLogs (lan: Lan, options: LogReportOptions = {}): string {
  const { tailLines = 200 } = options
  const parts = [`════ LAN ${lan.prefix} (${lan.dir}): process logs, times since LAN creation ════`]
  for (const host of lan.hosts) {
    parts.push(`──── host ${host.name} (${host.address}, ${host.processes.length} processes) ────`)
    for (const proc of host.processes) parts.push(formatProcess(proc, tailLines))
  }
  return parts.join('\n')
}

function formatProcess (proc: HostProcess, tailLines: number): string {
  const status = proc.exitStatus === null ? 'running' : `exited, ${describeStatus(proc.exitStatus)}`
  const header = `── ${proc.host} $ ${proc.command}  [pid ${proc.pid}, ${status}]`
  const { chunks, dropped } = proc.chunksSoFar()
  const lines = toLines(chunks)
  const skipped = Math.max(lines.length - tailLines, 0)
  const notes = [
    ...(dropped > 0 ? [`[${dropped} bytes of early output were not kept]`] : []),
    ...(skipped > 0 ? [`[... ${skipped} earlier lines]`] : []),
    ...(lines.length === 0 ? ['(no output)'] : [])
  ]
  return [header, ...notes, ...lines.slice(skipped)].join('\n')
}

/** Time-stamped lines; a line that arrived in several chunks keeps the time of its start. */
function toLines (chunks: readonly OutputChunk[]): string[] {
  const lines: string[] = []
  const partial = new Map<OutputChunk['stream'], { at: number, text: string }>()
  const emit = (at: number, stream: OutputChunk['stream'], text: string): void => {
    lines.push(`[+${(at / 1000).toFixed(3)}s${stream === 'stderr' ? ' err' : ''}] ${text}`)
  }
  for (const chunk of chunks) {
    const start = partial.get(chunk.stream)
    const pieces = ((start?.text ?? '') + chunk.text).split('\n')
    const rest = pieces.pop() ?? ''
    pieces.forEach((piece, i) => { emit(i === 0 ? start?.at ?? chunk.at : chunk.at, chunk.stream, piece) })
    if (rest === '') partial.delete(chunk.stream)
    else partial.set(chunk.stream, { at: pieces.length === 0 ? start?.at ?? chunk.at : chunk.at, text: rest })
  }
  for (const [stream, { at, text }] of partial) emit(at, stream, text)
  return lines
}
