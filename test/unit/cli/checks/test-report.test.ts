import { describe, expect, it } from 'vitest'
import type { PeerCheck } from '../../../../cli/checks/check-builder.ts'
import { STEP_TITLES, type StepResult } from '../../../../cli/checks/judge.ts'
import { formatTestReport } from '../../../../cli/checks/test-report.ts'

const step = (s: Partial<StepResult> & Pick<StepResult, 'step'>): StepResult => ({ title: STEP_TITLES[s.step], status: 'pass', detail: 'fine', advice: null, ...s })

describe('mesh test report', () => {
  it('prints a heading per builder, one line per step, the fix under a failure, and a summary', () => {
    const checks: PeerCheck[] = [
      { name: 'b1', host: '10.0.0.2', port: 22, user: 'root', passed: true, steps: [step({ step: 'reachable', detail: 'sshd answers at 10.0.0.2:22' }), step({ step: 'disk', detail: '20.0 GiB free' })] },
      {
        name: 'b2', host: '10.0.0.3', port: 2222, user: 'nix', passed: false, steps: [
          step({ step: 'reachable', status: 'fail', detail: 'nothing listens on 10.0.0.3:2222 (connection refused)', advice: 'Start sshd.' }),
          step({ step: 'host-key', status: 'skip', detail: 'not tried, since "SSH reachable" failed' })
        ]
      }
    ]
    expect(formatTestReport(checks)).toBe([
      'b1  root@10.0.0.2:22',
      '  ok    SSH reachable: sshd answers at 10.0.0.2:22',
      '  ok    free disk over the threshold: 20.0 GiB free',
      'b2  nix@10.0.0.3:2222',
      '  FAIL  SSH reachable: nothing listens on 10.0.0.3:2222 (connection refused)',
      '        fix: Start sshd.',
      '  skip  host key matches the pinned one: not tried, since "SSH reachable" failed',
      '2 builders tested: 1 passed, 1 failed (b2)',
      ''
    ].join('\n'))
  })

  it('has nothing to add when all passed', () => {
    expect(formatTestReport([{ name: 'b1', host: 'h', port: 22, user: 'u', passed: true, steps: [] }]).trimEnd().split('\n').at(-1)).toBe('1 builder tested: 1 passed, 0 failed')
  })
})
