/**
 * `npm run bench [-- --quick] [--only ingest,freshness,polling,growth,replay,scaleout]`
 *
 * Starts a throwaway nats-server + redis-server, runs the selected rows (each starts the real estimator / API as
 * child processes, see bench/services/), prints progress on stderr, then ONE table on stdout, and writes
 * bench/results/latest.md and bench/results/latest.json. Every figure sits beside a raw baseline measured in the
 * same run; targets are marked PASS/FAIL. See bench/README.md.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { createHarness, defaultOptions, redisVersion, type Harness } from './lib/harness.ts';
import { findBinary } from '../shared/local-servers.ts';
import { formatTable, parseOnly, type ResultRow } from './lib/stats.ts';
import { childLogSummary, LOGS_DIR } from './lib/procs.ts';
import { ingestRow } from './rows/ingest.ts';
import { freshnessRow } from './rows/freshness.ts';
import { pollingRow } from './rows/polling.ts';
import { growthRow } from './rows/growth.ts';
import { replayRow } from './rows/replay.ts';
import { scaleoutRow } from './rows/scaleout.ts';

const ROWS: Record<string, (h: Harness) => Promise<ResultRow[]>> = {
  ingest: ingestRow,
  freshness: freshnessRow,
  polling: pollingRow,
  growth: growthRow,
  replay: replayRow,
  scaleout: scaleoutRow,
};
const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

/** A mistake on the command line: its message, exit 2, no stack trace. */
class UsageError extends Error {}

function parseArgs(argv: string[]) {
  let only: string | undefined;
  let quick = false;
  let checkpoints: number[] | undefined;
  let budget: number | undefined;
  let ingest: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      only = a === '--only' ? argv[++i] : a.slice('--only='.length);
      // `--only` without rows ran the whole 9-minute bench
      if (only === undefined || only.trim() === '' || only.startsWith('-')) throw new UsageError(`--only needs a comma-separated list of rows: ${Object.keys(ROWS).join(',')}`);
    }
    else if (a === '--checkpoints') checkpoints = (argv[++i] ?? '').split(',').map(Number);
    else if (a === '--memory-budget') budget = Number(argv[++i]);
    else if (a === '--ingest-events') ingest = Number(argv[++i]);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        'usage: npm run bench -- [--quick] [--only ingest,freshness,polling,growth,replay,scaleout] [--checkpoints N,M] [--memory-budget S] [--ingest-events N]\n' +
          '  --quick            small counts and short durations (a few minutes)\n' +
          '  --checkpoints N,M  events processed at which the growth row measures memory (default\n' +
          '                     100000,1000000,1500000,2000000: RSS judged 100k -> 1M, Redis after the 7-day window\n' +
          '                     filled; the replay row then rebuilds from those events)\n' +
          '  --memory-budget S  wall-clock budget of that part, seconds (default 600); it stops early and says so\n' +
          '  --ingest-events N  events of each ingest variant (default 15000)\n',
      );
      process.exit(0);
    } else throw new UsageError(`unknown argument ${a} (try --help)`);
  }
  const opts = defaultOptions(quick);
  const positiveInt = (v: number, flag: string) => {
    if (!(Number.isInteger(v) && v > 0)) throw new UsageError(`${flag} needs positive integers`);
    return v;
  };
  if (checkpoints) opts.memoryCheckpoints = checkpoints.map((c) => positiveInt(c, '--checkpoints'));
  if (budget !== undefined) opts.memoryBudgetSeconds = positiveInt(budget, '--memory-budget');
  if (ingest !== undefined) opts.ingestEvents = positiveInt(ingest, '--ingest-events');
  try {
    return { rows: parseOnly(only, Object.keys(ROWS)), opts };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function versionOf(bin: string, args: string[]): string {
  const path = findBinary(bin);
  if (!path) return 'not installed';
  try {
    return execFileSync(path, args, { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const { rows: selected, opts } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  rmSync(LOGS_DIR, { recursive: true, force: true });
  const h = await createHarness(opts);
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryBytes: totalmem(),
    os: `${platform()} ${release()}`,
    node: process.version,
    natsServer: versionOf('nats-server', ['--version']),
    redisServer: await redisVersion(h.redis),
  };
  h.progress(`rows: ${selected.join(', ')}${opts.quick ? ' (quick)' : ''}; ${machine.cores} x ${machine.cpu}, node ${machine.node}, ${machine.natsServer}, redis ${machine.redisServer}`);
  const rows: ResultRow[] = [];
  const failures: { row: string; error: string }[] = [];
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!interrupted) {
      interrupted = true;
      h.progress(`${signal}: finishing the current row, then writing what exists to bench/results/partial.* (again to stop at once)`);
      return;
    }
    // a second signal: stop the servers and children (their own process groups) now
    h.progress(`${signal} again: stopping now`);
    void Promise.race([h.close().catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    for (const name of selected) {
      if (interrupted) break;
      const t = Date.now();
      try {
        rows.push(...(await ROWS[name]!(h)));
        h.progress(`${name}: done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
      } catch (err) {
        const msg = (err as Error).stack ?? String(err);
        failures.push({ row: name, error: msg });
        rows.push({ group: name, what: 'ERROR (see latest.json)', result: '-', baseline: '-', ratio: '-', target: '-', verdict: 'n/a', data: { error: (err as Error).message } });
        h.progress(`${name}: FAILED: ${msg}`);
      }
    }
  } finally {
    await h.close();
  }

  const table = formatTable(rows);
  const childLogs = childLogSummary();
  const logLines = childLogs.flatMap((c) => Object.entries(c.messages).map(([m, n]) => `- ${c.file}: ${n} x ${m}`));
  const logText = logLines.length ? `\nWarnings/errors logged by the services (bench/results/logs/):\n${logLines.join('\n')}\n` : '';
  const durationS = (Date.now() - startedAt.getTime()) / 1000;
  const header = [
    `# Kezek benchmark (${opts.quick ? 'quick' : 'full'} run)`,
    '',
    `- date: ${startedAt.toISOString()} (took ${durationS.toFixed(0)} s)`,
    `- command: npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    `- machine: ${machine.cores} x ${machine.cpu}, ${(machine.memoryBytes / 2 ** 30).toFixed(1)} GiB, ${machine.os}`,
    `- node ${machine.node}, ${machine.natsServer}, redis ${machine.redisServer}`,
    `- services: estimator, API, raw baseline consumer and bare Fastify server each run as a separate child process; nats-server and redis-server are throwaway instances of this run`,
    '',
  ].join('\n');
  mkdirSync(RESULTS_DIR, { recursive: true });
  // latest.* (committed, quoted in the README) only from a complete full run; a subset, a quick, an interrupted or a
  // failed run goes to partial.* (git-ignored) instead of overwriting it
  const complete = !opts.quick && selected.length === Object.keys(ROWS).length && !interrupted && failures.length === 0;
  const base = complete ? 'latest' : 'partial';
  writeFileSync(join(RESULTS_DIR, `${base}.md`), `${header}\n${table}\n${logText}${failures.length ? `\nFailed rows: ${failures.map((f) => f.row).join(', ')}\n` : ''}${interrupted ? '\nInterrupted: rows after the current one were not run.\n' : ''}`);
  writeFileSync(
    join(RESULTS_DIR, `${base}.json`),
    `${JSON.stringify({ date: startedAt.toISOString(), durationSeconds: durationS, args: process.argv.slice(2), machine, options: opts, rows, failures, childLogs }, null, 2)}\n`,
  );
  process.stdout.write(`\n${header}\n${table}\n${logText}`);
  h.progress(`results written to bench/results/${base}.md and ${base}.json`);
  if (failures.length) process.exitCode = 1;
  else if (interrupted) process.exitCode = 130;
}

main().catch((err: unknown) => {
  if (err instanceof UsageError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
