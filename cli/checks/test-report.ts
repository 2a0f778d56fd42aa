import type { PeerCheck } from './check-builder.ts'
import type { StepStatus } from './judge.ts'

const MARKS: Record<StepStatus, string> = { pass: 'ok', fail: 'FAIL', skip: 'skip' }

/**
 * What `mesh test` prints: per builder a heading, one line per step, and under a failed step
 * what to do about it; then one summary line.
 */
export function formatTestReport (checks: PeerCheck[]): string {
  const lines: string[] = []
  for (const check of checks) {
    lines.push(`${check.name}  ${check.user}@${check.host}:${check.port}`)
    for (const step of check.steps) {
      lines.push(`  ${MARKS[step.status].padEnd(4)}  ${step.title}: ${step.detail}`)
      if (step.advice !== null) lines.push(`        fix: ${step.advice}`)
    }
  }
  const failed = checks.filter((c) => !c.passed).map((c) => c.name)
  const summary = `${checks.length} builder${checks.length === 1 ? '' : 's'} tested: ${checks.length - failed.length} passed, ${failed.length} failed`
  lines.push(failed.length === 0 ? summary : `${summary} (${failed.join(', ')})`)
  return `${lines.join('\n')}\n`
}
