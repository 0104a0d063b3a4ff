/**
 * Accuracy benchmark: `npm run bench:accuracy [-- --in-process] [--seeds 1,2,3] [--scenario name ...]`.
 *
 * Each scenario is simulated by the DES (shared/sim/des.ts); at every probe time our published estimate is scored
 * against the probe's true wait, beside LES, HOL and QL-with-the-true-service-rate. By default the estimates come
 * from the REAL pipeline (events -> JetStream -> estimator -> Redis -> estimateAsOf, see pipeline.ts);
 * `--in-process` computes them directly (reference window -> model), which is fast and should agree.
 * Writes bench/results/accuracy.md and bench/results/accuracy.json; exits 1 when an acceptance target is missed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { simulateQueue, type ScenarioSpec, type SimResult } from '../../shared/sim/des.ts';
import { DEFAULT_SEEDS, SCENARIOS } from './scenarios.ts';
import { formatTable, inProcessEstimator, scoreRows, summarise, verdict, type ProbeRow, type ScenarioScore } from './score.ts';

type Estimator = (spec: ScenarioSpec, sim: SimResult) => Promise<Map<number, QueueEstimate>>;

function parseArgs(argv: string[]) {
  const opts = { inProcess: false, seeds: DEFAULT_SEEDS, scenarios: [] as string[], out: join(dirname(fileURLToPath(import.meta.url)), '..', 'results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--in-process') opts.inProcess = true;
    else if (a === '--seeds') opts.seeds = (argv[++i] ?? '').split(',').map(Number).filter(Number.isFinite);
    else if (a === '--scenario') opts.scenarios.push(argv[++i] ?? '');
    else if (a === '--out') opts.out = argv[++i] ?? opts.out;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: tsx bench/accuracy/run.ts [--in-process] [--seeds 1,2,3] [--scenario NAME]... [--out DIR]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const scenarios = opts.scenarios.length ? SCENARIOS.filter((s) => opts.scenarios.includes(s.name)) : SCENARIOS;
  if (scenarios.length === 0) throw new Error(`no scenario named ${opts.scenarios.join(', ')}; have ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const catalogue = loadCatalogue();
  let estimator: Estimator;
  let close = async () => undefined as void;
  if (opts.inProcess) {
    const est = inProcessEstimator(catalogue);
    estimator = async (spec, sim) => est(spec, sim);
  } else {
    const { startPipeline } = await import('./pipeline.ts');
    const pipeline = await startPipeline(catalogue);
    process.on('SIGINT', () => void pipeline.close().finally(() => process.exit(130)));
    estimator = pipeline.estimates;
    close = pipeline.close;
  }
  const mode = opts.inProcess ? 'in-process (reference window -> model)' : 'pipeline (JetStream -> estimator -> Redis -> estimateAsOf)';
  process.stderr.write(`accuracy benchmark: ${scenarios.length} scenarios x ${opts.seeds.length} seeds, ${mode}\n`);

  // In pipeline mode the in-process estimate is computed too: the store's Lua window must agree with the oracle.
  const oracle = opts.inProcess ? undefined : inProcessEstimator(catalogue);
  const agreement = { probes: 0, sameWait: 0, maxAbsDiffSeconds: 0 };
  const scores: ScenarioScore[] = [];
  const started = Date.now();
  let done = 0;
  const total = scenarios.length * opts.seeds.length;
  try {
    for (const sc of scenarios) {
      const rows: ProbeRow[] = [];
      for (const seed of opts.seeds) {
        const spec = sc.spec(seed);
        const sim = simulateQueue(spec);
        const estimates = await estimator(spec, sim);
        rows.push(...scoreRows(spec, sim, estimates));
        if (oracle) {
          const ref = oracle(spec, sim);
          for (const [t, e] of estimates) {
            const r = ref.get(t)!;
            agreement.probes += 1;
            if (e.waitSeconds === r.waitSeconds) agreement.sameWait += 1;
            else agreement.maxAbsDiffSeconds = Math.max(agreement.maxAbsDiffSeconds, Math.abs((e.waitSeconds ?? 0) - (r.waitSeconds ?? 0)));
          }
        }
        done += 1;
        process.stderr.write(`  [${done}/${total}] ${sc.name} seed ${seed}: ${sim.events.length} events, ${sim.probes.length} probes (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
      }
      scores.push(summarise(sc.name, opts.seeds, rows));
    }
  } finally {
    await close();
  }

  const table = formatTable(scores);
  const v = verdict(scores);
  const agreementLine = oracle
    ? `Pipeline vs in-process oracle: ${agreement.sameWait}/${agreement.probes} probes with the identical wait; largest difference ${agreement.maxAbsDiffSeconds} s.`
    : '';
  process.stdout.write(`\n${table}\n\n${v.lines.join('\n')}\n${agreementLine}\n`);
  mkdirSync(opts.out, { recursive: true });
  const md = [
    '# Accuracy benchmark',
    '',
    `Mode: ${mode}. Seeds: ${opts.seeds.join(', ')}. Generated by \`npm run bench:accuracy${opts.inProcess ? ' -- --in-process' : ''}\`.`,
    'Minutes; one probe every 5 simulated minutes over one simulated day per seed; every probe is scored (no warm-up',
    'excluded). Baselines are scored on the same probes. QL-true is told the true queue, lanes, busy lanes and mean',
    'service rate (an oracle, not a deployable estimator); it knows nothing of closures or abandonment.',
    '',
    ...scenarios.map((s) => `- **${s.name}**: ${s.description}`),
    '',
    table,
    '',
    '## Acceptance',
    '',
    ...v.lines.map((l) => `- ${l}`),
    '',
    agreementLine,
    '',
  ].join('\n');
  writeFileSync(join(opts.out, 'accuracy.md'), md);
  writeFileSync(join(opts.out, 'accuracy.json'), JSON.stringify({ mode: opts.inProcess ? 'in-process' : 'pipeline', seeds: opts.seeds, scores, verdict: v, ...(oracle ? { agreement } : {}) }, null, 2));
  process.stderr.write(`wrote ${join(opts.out, 'accuracy.md')} and accuracy.json in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  process.exitCode = v.pass ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
