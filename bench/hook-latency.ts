/*
 * What `mesh build-hook` costs a real Nix run, measured on one host of the LAN harness (needs root):
 *   npm run bench:hook            (or: node bench/hook-latency.ts, with Node >= 22.18)
 *
 * Nix's worker waits for its hook's answer before it does anything else, and asks again for
 * every waiting derivation each time a build ends, so the time per answer adds up over a run.
 * The graph is a bootstrap's shape (a chain of stages, each with packages that later stages
 * need) of derivations that build nothing, so the run's time is Nix's own plus the hook's.
 * The master agent has no builders: every answer is "build here", after the same reasoning
 * (history, the chain after the build, read from the store) as with builders.
 *
 * Runs alternate between Nix with no builders (its own hook declines for good at the first
 * request) and Nix through `mesh build-hook`; median of `--runs N` (default 3) each.
 *
 * Nix also starts a new hook process after each one that accepted a build, and waits for its
 * first answer: one derivation built alone, with and without the hook, shows what that costs
 * every remote build (median of 3 x `--runs`).
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
const MAX_JOBS = 2
const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' } } })
const RUNS = Number(args.runs)
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs ${args.runs}: expected a whole number >= 1`)

/** Stage k needs stage k-1 and three packages of stage k-2; every package needs its stage. */
function graphExpression (tag: string): string {
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

const DERIVATIONS = STAGES * (1 + PACKAGES) + 1

/** One derivation that builds nothing, new for every tag. */
function singleExpression (tag: string): string {
  return `derivation { name = "single"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo > $out" ]; tag = "${tag}"; }\n`
}

interface Run { seconds: number, answers: number }

async function build (host: Host, tag: string, expression: string, options: string[]): Promise<Run> {
  const file = join(host.dir, `${tag}.nix`)
  await writeFile(file, expression)
  const startedAt = performance.now()
  const result = await host.run('nix-build', [file, '--no-out-link', '--max-jobs', String(MAX_JOBS), '-v', ...options], { timeoutMs: 600_000 })
  const seconds = (performance.now() - startedAt) / 1000
  if (result.stdout.trim() === '') throw new Error(`${tag}: nix-build printed no output path`)
  return { seconds, answers: (result.stderr.match(/^buildmesh: \/nix\/store\/\S+\.drv: /gm) ?? []).length }
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

    const pair = [
      ['plain', ['--builders', '']],
      ['mesh', ['--builders', `@${nixFile}`, '--option', 'build-hook', hook]]
    ] as const
    const alternate = async (what: string, count: number, expression: (tag: string) => string): Promise<{ plain: Run[], mesh: Run[] }> => {
      const runs = { plain: [] as Run[], mesh: [] as Run[] }
      for (let run = 1; run <= count; run++) {
        for (const [kind, options] of run % 2 === 1 ? pair : [...pair].reverse()) {
          const tag = `${lan.prefix}-${what}-${kind}-${run}`
          const result = await build(m, tag, expression(tag), [...options])
          runs[kind].push(result)
          process.stderr.write(`${what}, ${kind} run ${run}: ${result.seconds.toFixed(2)} s, ${result.answers} answers from the agent\n`)
        }
      }
      return runs
    }
    const runs = await alternate('graph', RUNS, graphExpression)
    const single = await alternate('single', 3 * RUNS, singleExpression)
    await agent.stop()

    const seconds = (rs: Run[]): number[] => rs.map((r) => r.seconds)
    const row = (cells: string[]): string => `| ${cells.join(' | ')} |`
    const rows = (what: string, r: { plain: Run[], mesh: Run[] }): string[] => [
      row([`${what}, Nix with no builders`, median(seconds(r.plain)).toFixed(2), Math.min(...seconds(r.plain)).toFixed(2), Math.max(...seconds(r.plain)).toFixed(2), '-', String(r.plain.length)]),
      row([`${what}, through mesh build-hook`, median(seconds(r.mesh)).toFixed(2), Math.min(...seconds(r.mesh)).toFixed(2), Math.max(...seconds(r.mesh)).toFixed(2), String(median(r.mesh.map((x) => x.answers))), String(r.mesh.length)])
    ]
    const extra = (r: { plain: Run[], mesh: Run[] }): number => median(seconds(r.mesh)) - median(seconds(r.plain))
    process.stdout.write([
      `hook bench: ${nixVersion}, --max-jobs ${MAX_JOBS}, ${availableParallelism()} cores, 1-min load ${loadBefore} before, ${await loadAverage()} after`,
      '',
      row(['nix-build of', 'median s', 'min s', 'max s', 'answers', 'runs']),
      row(['---', '---', '---', '---', '---', '---']),
      ...rows(`${DERIVATIONS} derivations (${STAGES} stages x ${PACKAGES} packages)`, runs),
      ...rows('1 derivation', single),
      '',
      `graph: mesh / Nix ${(median(seconds(runs.mesh)) / median(seconds(runs.plain))).toFixed(2)}, the hook's cost per answer ${(extra(runs) * 1000 / median(runs.mesh.map((r) => r.answers))).toFixed(1)} ms`,
      `1 derivation: a new hook's start and first answer ${(extra(single) * 1000).toFixed(0)} ms (Nix pays it for every remote build)`,
      ''
    ].join('\n'))
  } finally {
    await lan.close()
  }
}

await main()
