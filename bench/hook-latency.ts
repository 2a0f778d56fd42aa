/*
 * What `mesh build-hook` costs a real Nix run, measured on one host of the LAN harness (needs root):
 *   npm run bench:hook            (or: node bench/hook-latency.ts, with Node >= 22.18)
 *
 * Nix's worker waits for its hook's answer before it does anything else, and asks again about
 * every waiting derivation each time a build ends, so the time per answer adds up over a run.
 * Derivations build nothing, so a run's time is Nix's own plus its hook's. Graphs: a bootstrap's
 * shape (a chain of stages, each with packages that later stages need) and independent
 * derivations (answers grow with the square of their number). The master agent has no
 * builders: every answer is "build here", after the same reasoning (history, the chain after the
 * build, read from the store) as with builders.
 *
 * Each graph is built three ways, in rotating order, median of `--runs N` (default 3): Nix with
 * no builders (its own hook declines for good at the first request, the floor); Nix's own hook
 * with one builder that fits nothing here (asked about every derivation, it declines, as ours
 * answers "build here"); and `mesh build-hook`. Timed runs are at Nix's default verbosity, as users
 * run it; one more run of ours at `-v`, where it names every answer, counts them.
 *
 * Nix also starts a new hook process after each one that accepted a build, and waits for its
 * first answer: one derivation built alone shows what that costs every remote build (3 x `--runs`),
 * with the one query of the store that a derivation it has not seen costs when it could start now.
 */
import { writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createLan } from '../test/lan/harness/lan.ts'
import type { Host } from '../test/lan/harness/host.ts'
import { makeHostKey, makeMeshKey, spawnMesh, writeHookScript } from '../test/lan/support/mesh.ts'
import { median } from '../test/lan/support/offload.ts'
import { loadAverage } from './load-average.ts'

const STAGES = 15
const PACKAGES = 12
const WIDE = 150
const MAX_JOBS = 2
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(args.runs)
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs ${args.runs}: expected a whole number >= 1`)

/** Stage k needs stage k-1 and three packages of stage k-2; every package needs its stage. */
function bootstrapExpression (tag: string): string {
  return `let
  job = name: inputs: derivation {
    inherit name inputs;
    system = "x86_64-linux";
    builder = "/bin/sh";
    args = [ "-c" "echo > $out" ];
    tag = "${tag}";
  };
  packagesOf = k: stage: builtins.genList (i: job "pkg-\${toString k}-\${toString i}" [ stage ]) ${PACKAGES};
  step = acc: k:
    let
      before = if k >= 2 then builtins.genList (i: builtins.elemAt (builtins.elemAt acc.packages (k - 2)) i) 3 else [ ];
      stage = job "stage-\${toString k}" ((if k > 0 then [ acc.stage ] else [ ]) ++ before);
    in { inherit stage; packages = acc.packages ++ [ (packagesOf k stage) ]; };
  built = builtins.foldl' step { stage = null; packages = [ ]; } (builtins.genList (k: k) ${STAGES});
in job "profile" ([ built.stage ] ++ builtins.concatLists built.packages)
`
}

const BOOTSTRAP_DERIVATIONS = STAGES * (1 + PACKAGES) + 1

/** Nix asks again about every waiting derivation whenever a build ends: answers grow with the square of this. */
function wideExpression (tag: string): string {
  return `builtins.genList (i: derivation { name = "leaf-\${toString i}"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; tag = "${tag}"; }) ${WIDE}\n`
}

/** One derivation that builds nothing, new for every tag. */
function singleExpression (tag: string): string {
  return `derivation { name = "single"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; tag = "${tag}"; }\n`
}

interface Run { seconds: number }

async function build (host: Host, tag: string, expression: string, options: string[]): Promise<Run & { stderr: string }> {
  const file = join(host.dir, `${tag}.nix`)
  await writeFile(file, expression)
  const startedAt = performance.now()
  const result = await host.run('nix-build', [file, '--no-out-link', '--max-jobs', String(MAX_JOBS), ...options], { timeoutMs: 600_000 })
  const seconds = (performance.now() - startedAt) / 1000
  if (result.stdout.trim() === '') throw new Error(`${tag}: nix-build printed no output path`)
  return { seconds, stderr: result.stderr }
}

interface Answers {
  all: number
  /** Those the hook gave itself, as the agent had answered ahead. */
  ahead: number
}

/** Our hook's answers in one more run, at `-v`, where it names each: the timed runs are quiet, as users run Nix. */
async function countAnswers (host: Host, tag: string, expression: string, options: string[]): Promise<Answers> {
  const { stderr } = await build(host, tag, expression, ['-v', ...options])
  return {
    all: (stderr.match(/^buildmesh: \/nix\/store\/\S+\.drv: /gm) ?? []).length,
    ahead: (stderr.match(/^buildmesh: \/nix\/store\/\S+\.drv: still waits, as the agent answered ahead/gm) ?? []).length
  }
}

async function main (): Promise<void> {
  const loadBefore = await loadAverage()
  const lan = await createLan({ hosts: ['m'] })
  try {
    const m = lan.host('m')
    const meshKey = await makeMeshKey(lan)
    const key = await makeHostKey(m)
    const nixFile = join(m.dir, 'machines')
    const agent = spawnMesh(m, ['agent', '--master', '--mesh-key', meshKey, '--state-dir', join(m.dir, 'state'),
      '--nix-machines', nixFile, '--guix-machines', join(m.dir, 'machines.scm'), '--ssh-host-key', key.file])
    await agent.waitForOutput('"agent started"', { timeoutMs: 15_000 })
    const hook = await writeHookScript(m, 'mesh-build-hook', ['--nix-machines', nixFile])
    const nixVersion = (await m.run('nix-build', ['--version'])).stdout.trim()

    const kinds = [
      ['Nix, no builders', ['--builders', '']],
      // A builder no derivation here fits: Nix's own hook is asked, and declines, as ours is.
      ['Nix\'s own hook', ['--builders', 'ssh://nobody@10.77.255.254 aarch64-linux']],
      ['mesh build-hook', ['--builders', `@${nixFile}`, '--option', 'build-hook', hook]]
    ] as const
    type Kind = typeof kinds[number][0]
    const measure = async (what: string, count: number, expression: (tag: string) => string): Promise<{ runs: Map<Kind, Run[]>, answers: Answers }> => {
      const runs = new Map<Kind, Run[]>(kinds.map(([kind]) => [kind, []]))
      for (let run = 1; run <= count; run++) {
        // Rotate which goes first, so a first-of-round effect does not land on one kind.
        for (const [kind, options] of [...kinds.slice(run % kinds.length), ...kinds.slice(0, run % kinds.length)]) {
          const tag = `${lan.prefix}-${what}-${kinds.findIndex(([k]) => k === kind)}-${run}`
          const result = await build(m, tag, expression(tag), [...options])
          runs.get(kind)?.push(result)
          process.stderr.write(`${what}, ${kind}, run ${run}: ${result.seconds.toFixed(2)} s\n`)
        }
      }
      const tag = `${lan.prefix}-${what}-counted`
      const answers = await countAnswers(m, tag, expression(tag), [...kinds[2][1]])
      process.stderr.write(`${what}: ${answers.all} answers, ${answers.ahead} of them answered ahead\n`)
      return { runs, answers }
    }
    const graphs = [
      { what: `bootstrap, ${BOOTSTRAP_DERIVATIONS} derivations`, ...await measure('bootstrap', RUNS, bootstrapExpression) },
      { what: `${WIDE} independent derivations`, ...await measure('wide', RUNS, wideExpression) },
      { what: '1 derivation', ...await measure('single', 3 * RUNS, singleExpression) }
    ]
    await agent.stop()

    const seconds = (rs: Run[] | undefined): number[] => (rs ?? []).map((r) => r.seconds)
    const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
    const lines = [
      `hook bench: ${nixVersion}, --max-jobs ${MAX_JOBS}, derivations that build nothing, ${availableParallelism()} cores, 1-min load ${loadBefore} before, ${await loadAverage()} after`,
      '',
      row(['nix-build of', 'through', 'median s', 'min s', 'max s', 'runs', 'answers', 'answered ahead', 'ms per answer', '/ Nix\'s own hook']),
      row(['---', '---', '---', '---', '---', '---', '---', '---', '---', '---'])
    ]
    for (const { what, runs, answers: counted } of graphs) {
      const floor = median(seconds(runs.get('Nix, no builders')))
      const nixHook = median(seconds(runs.get('Nix\'s own hook')))
      for (const [kind] of kinds) {
        const rs = runs.get(kind) ?? []
        const t = median(seconds(rs))
        const answers = kind === 'mesh build-hook' ? counted : undefined
        lines.push(row([what, kind, t.toFixed(2), Math.min(...seconds(rs)).toFixed(2), Math.max(...seconds(rs)).toFixed(2), String(rs.length),
          answers === undefined ? '-' : String(answers.all), answers === undefined ? '-' : String(answers.ahead),
          answers === undefined ? '-' : ((t - floor) * 1000 / answers.all).toFixed(2),
          kind === 'Nix, no builders' ? '-' : (t / nixHook).toFixed(2)]))
      }
    }
    lines.push('', 'ms per answer: the time over Nix with no builders, per answer. For 1 derivation that is a new hook\'s start and', 'first answer, which Nix waits for after every remote build.', '')
    process.stdout.write(lines.join('\n'))
  } finally {
    await lan.close()
  }
}

await main()
