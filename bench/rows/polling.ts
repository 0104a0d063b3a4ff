/**
 * Row 3, polling: autocannon (its CLI in a child process, so the load generator never shares an event loop with
 * a server) against the real API child: GET /v1/crossings/korday/waits without and with If-None-Match (304s),
 * bulk GET /v1/waits, each with RATE_LIMIT_PER_MINUTE=0, plus the per-crossing poll with the Redis rate limiter
 * ON (limit high enough that nothing is rejected). Baseline: a BARE Fastify child serving the very same bodies
 * as constants, measured in rounds interleaved with ours (bare, ours, bare, ours, ...): the ratio is the median of
 * the rounds' ratios, so a burst of noise on this 2-core machine moves one round, not the verdict. The estimator runs first only to publish the cold-start estimates of all 72 queues, then stops,
 * so the documents (and ETags) stay the same during the runs.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Harness } from '../lib/harness.ts';
import { startChild, waitUntil, type BenchChild } from '../lib/procs.ts';
import { fmt, fmtRatio, median, pairedRatio, ratio, type ResultRow, type Verdict } from '../lib/stats.ts';

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const HIGH_LIMIT = '100000000';
/** Discarded run before each measurement: JIT warm-up of the server (and tsx's first compile of each route). */
const WARMUP_SECONDS = 2;

export interface CannonResult {
  reqPerSec: number;
  p50: number;
  p99: number;
  ok2xx: number;
  ok3xx: number;
  other: number;
  errors: number;
  bytesPerReq: number;
}

/** Runs the autocannon CLI (JSON output) in a child process. */
export function cannon(url: string, seconds: number, connections: number, headers: Record<string, string> = {}): Promise<CannonResult> {
  const args = [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds), ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]), url];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      try {
        const r = JSON.parse(stdout) as {
          requests: { average: number; total: number };
          latency: { p50: number; p99: number };
          throughput: { total: number };
          errors: number;
          timeouts: number;
          '2xx': number;
          '3xx': number;
          '4xx': number;
          '5xx': number;
          non2xx: number;
        };
        resolve({
          reqPerSec: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          ok2xx: r['2xx'],
          ok3xx: r['3xx'],
          other: r['4xx'] + r['5xx'],
          errors: r.errors + r.timeouts,
          bytesPerReq: r.requests.total > 0 ? r.throughput.total / r.requests.total : 0,
        });
      } catch (e) {
        reject(new Error(`autocannon output was not JSON: ${(e as Error).message}`));
      }
    });
  });
}

/**
 * Rounds of one configuration as one result: median req/s over the rounds (what a typical round saw), the worst
 * round's p99, response counts summed.
 */
function summarise(rounds: readonly CannonResult[]): CannonResult {
  const sum = (k: keyof CannonResult) => rounds.reduce((a, r) => a + r[k], 0);
  return {
    reqPerSec: median(rounds.map((r) => r.reqPerSec)),
    p50: median(rounds.map((r) => r.p50)),
    // the worst round's p99: a median would drop the tail the target is about
    p99: Math.max(...rounds.map((r) => r.p99)),
    ok2xx: sum('ok2xx'),
    ok3xx: sum('ok3xx'),
    other: sum('other'),
    errors: sum('errors'),
    bytesPerReq: median(rounds.map((r) => r.bytesPerReq)),
  };
}

export async function pollingRow(h: Harness): Promise<ResultRow[]> {
  const prefix = h.newPrefix('poll');
  const s = h.opts.pollSeconds;
  const c = h.opts.pollConnections;
  h.progress('polling: publishing the cold-start estimates of the 72 queues');
  const est = await startChild('estimator', { env: h.env(prefix) });
  const api = await startChild('api', { env: h.env(prefix) });
  const apiRl = await startChild('api', { env: h.env(prefix, { RATE_LIMIT_PER_MINUTE: HIGH_LIMIT }) });
  const queues = h.catalogue.queues().length;
  const viewFull = (child: BenchChild) => async () => ((await child.stats()).counters?.viewSize ?? 0) >= queues;
  await waitUntil(viewFull(api), 'the API view to hold every queue', 60_000, 100);
  await waitUntil(viewFull(apiRl), 'the second API view to hold every queue', 60_000, 100);
  await est.stop();

  const base = `http://127.0.0.1:${api.info.port as number}`;
  const baseRl = `http://127.0.0.1:${apiRl.info.port as number}`;
  const crossingRes = await fetch(`${base}/v1/crossings/korday/waits`);
  const crossingBody = await crossingRes.text();
  const etag = crossingRes.headers.get('etag') ?? '';
  const bulkBody = await (await fetch(`${base}/v1/waits`)).text();
  const dir = mkdtempSync(join(tmpdir(), 'kezek-bench-bare-'));
  writeFileSync(join(dir, 'crossing.json'), crossingBody);
  writeFileSync(join(dir, 'bulk.json'), bulkBody);
  const bare = await startChild('bare', { env: {}, args: ['--doc', `crossing=${join(dir, 'crossing.json')}`, '--doc', `bulk=${join(dir, 'bulk.json')}`] });
  const bareBase = `http://127.0.0.1:${bare.info.port as number}`;

  const runs: { key: string; what: string; url: string; headers?: Record<string, string>; bare: 'crossing' | 'bulk'; expect: '2xx' | '3xx' }[] = [
    { key: 'waits', what: `GET /v1/crossings/korday/waits (${crossingBody.length} B)`, url: `${base}/v1/crossings/korday/waits`, bare: 'crossing', expect: '2xx' },
    { key: 'waits304', what: 'GET /v1/crossings/korday/waits + If-None-Match (304)', url: `${base}/v1/crossings/korday/waits`, headers: { 'if-none-match': etag }, bare: 'crossing', expect: '3xx' },
    { key: 'bulk', what: `GET /v1/waits bulk (${bulkBody.length} B)`, url: `${base}/v1/waits`, bare: 'bulk', expect: '2xx' },
    { key: 'waitsRateLimited', what: 'GET /v1/crossings/korday/waits, rate limiter ON', url: `${baseRl}/v1/crossings/korday/waits`, bare: 'crossing', expect: '2xx' },
  ];
  // Warm both servers up (JIT, tsx's first compile of each route), then measure in interleaved rounds: bare, ours,
  // bare, ours... Each round's pair sees the same machine state; the ratio is the median of the rounds' ratios.
  for (const url of [`${bareBase}/bare/crossing`, `${bareBase}/bare/bulk`]) await cannon(url, WARMUP_SECONDS, c);
  for (const r of runs) await cannon(r.url, WARMUP_SECONDS, c, r.headers);
  const rounds = h.opts.pollRounds;
  const perRound = Math.max(1, Math.round(s / rounds));
  const rows: ResultRow[] = [];
  for (const r of runs) {
    const ours: CannonResult[] = [];
    const bares: CannonResult[] = [];
    for (let i = 0; i < rounds; i++) {
      h.progress(`polling: ${r.what} vs bare ${r.bare}, round ${i + 1}/${rounds}, ${c} connections, ${perRound} s each`);
      // the order alternates, so a drift of the machine within a round does not always favour one side
      if (i % 2 === 0) {
        bares.push(await cannon(`${bareBase}/bare/${r.bare}`, perRound, c));
        ours.push(await cannon(r.url, perRound, c, r.headers));
      } else {
        ours.push(await cannon(r.url, perRound, c, r.headers));
        bares.push(await cannon(`${bareBase}/bare/${r.bare}`, perRound, c));
      }
    }
    const res = summarise(ours);
    const b = summarise(bares);
    const rr = pairedRatio(ours.map((x) => x.reqPerSec), bares.map((x) => x.reqPerSec));
    const expected = r.expect === '2xx' ? res.ok2xx : res.ok3xx;
    const unexpected = res.ok2xx + res.ok3xx + res.other - expected + res.errors;
    // the rate-limited run shows the limiter's cost; the targets are stated on the main (limiter off) numbers
    const judged = r.key !== 'waitsRateLimited';
    const verdict: Verdict = !judged ? 'info' : unexpected > 0 ? 'FAIL' : rr !== null && rr >= 0.7 && res.p99 < 5 ? 'PASS' : 'FAIL';
    rows.push({
      group: '3 polling',
      what: `${r.what}${unexpected > 0 ? ` - ${unexpected} unexpected responses/errors` : ''}`,
      result: `${fmt(res.reqPerSec, 'req/s')}, p99 ${fmt(res.p99, 'ms', 0)}`,
      baseline: `bare ${r.bare}: ${fmt(b.reqPerSec, 'req/s')}, p99 ${fmt(b.p99, 'ms', 0)}`,
      ratio: fmtRatio(rr),
      target: judged ? '>= 70% of bare; p99 < 5 ms' : '-',
      verdict,
      data: {
        ...res,
        expected,
        unexpected,
        bare: b,
        connections: c,
        secondsPerRound: perRound,
        rounds: ours.map((x, i) => ({ reqPerSec: x.reqPerSec, p99: x.p99, bareReqPerSec: bares[i]!.reqPerSec, bareP99: bares[i]!.p99, ratio: ratio(x.reqPerSec, bares[i]!.reqPerSec) })),
      },
    });
  }
  await bare.stop();
  await api.stop();
  await apiRl.stop();
  await h.cleanup(prefix);
  rmSync(dir, { recursive: true, force: true });
  return rows;
}
