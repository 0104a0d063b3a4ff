/**
 * Server CPU per request of the polling row's routes, ours against the bare Fastify baseline: the real API child
 * (bench/services/api.ts, as in the polling row) and the bare child serving the same bodies, each loaded by the
 * polling row's load generator (bench/lib/load.ts: wrk when installed; 50 connections) for SECONDS (3) per variant,
 * ROUNDS (3) alternating rounds; CPU from /proc of each child. CPU per request is steadier on this noisy machine than
 * req/s, and it is what the closed-loop p99 follows (50 connections x the time per request, plus GC).
 * `node --import tsx bench/experiments/poll-cost.ts` (`ONLY=bulk` runs the variants whose name contains it; with
 * `BENCH_PROFILE=api` the API child writes a CPU profile, bench/README.md)
 * On 2026-11-23 (2 x AMD EPYC, a slow hour: the bare route at 14k req/s against 18-22k the day before): CPU per
 * request bare / ours: crossing 68.8 / 71.3 us, 304 69.5 us, bulk 57.3 / 80.4 us (3 x 3 s), bulk again 67.8 / 73.9 us
 * (2 x 5 s, profiled). The API's profile under the bulk load: writev (the kernel's send) ~49 % of the busy time,
 * Fastify ~8 %, Kezek's own code (view, lookup, access, headers) under 2 %. The p99 at 50 closed-loop connections
 * follows the time per request, and the bare route's own p99 was 4.9-7.9 ms in those runs.
 * On 2026-11-23 16:00 (2 x Intel Xeon guest; bare at 51-57k req/s): crossing bare / ours 17.4-19.5 / 24.3-26.1 us,
 * 304 21.6 us with 276 B per response. (Until a2c697b the "304" variant here and in the polling row was sent 200s:
 * the ETag came from fetch, whose Accept-Encoding: gzip gets the -gz ETag; it then cost MORE than a 200, 27.7 us.)
 * Four runs of this experiment (a fresh API each) gave ours 24.4-26.1 us; the polling row's own API, warmed on all
 * five configurations, sometimes runs the per-crossing poll at 30k instead of 40k req/s for a whole run (59 % in all
 * 5 rounds at 16:08, 69-75 % at 15:20), so a process, not a round, is the unit of that noise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHarness, defaultOptions } from '../lib/harness.ts';
import { pickLoadTool, plainGet, runLoad } from '../lib/load.ts';
import { cpuMs, startChild, waitUntil, type BenchChild } from '../lib/procs.ts';
import { median } from '../lib/stats.ts';

const SECONDS = Number(process.env.SECONDS_PER_RUN ?? 3);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const h = await createHarness(defaultOptions(false));
const dir = mkdtempSync(join(tmpdir(), 'kezek-poll-cost-'));
try {
  const prefix = h.newPrefix('pollcost');
  const est = await startChild('estimator', { env: h.env(prefix) });
  const api = await startChild('api', { env: h.env(prefix) });
  const queues = h.catalogue.queues().length;
  await waitUntil(async () => ((await api.stats()).counters?.viewSize ?? 0) >= queues, 'the API view to hold every queue', 60_000, 100);
  await est.stop();
  const base = `http://127.0.0.1:${api.info.port as number}`;
  // as the load generator is sent them (plainGet: fetch's own Accept-Encoding would get the gzip ETag)
  const res = await plainGet(`${base}/v1/crossings/korday/waits`);
  const etag = String(res.headers.etag ?? '');
  writeFileSync(join(dir, 'crossing.json'), res.body);
  writeFileSync(join(dir, 'bulk.json'), (await plainGet(`${base}/v1/waits`)).body);
  const bare = await startChild('bare', { env: {}, args: ['--doc', `crossing=${join(dir, 'crossing.json')}`, '--doc', `bulk=${join(dir, 'bulk.json')}`] });
  const bareBase = `http://127.0.0.1:${bare.info.port as number}`;
  const { tool } = pickLoadTool();
  const variants: { name: string; child: BenchChild; url: string; headers?: Record<string, string>; expect?: '2xx' | '3xx' }[] = [
    { name: 'bare crossing', child: bare, url: `${bareBase}/bare/crossing` },
    { name: 'ours crossing', child: api, url: `${base}/v1/crossings/korday/waits` },
    { name: 'ours 304', child: api, url: `${base}/v1/crossings/korday/waits`, headers: { 'if-none-match': etag }, expect: '3xx' as const },
    { name: 'bare bulk', child: bare, url: `${bareBase}/bare/bulk` },
    { name: 'ours bulk', child: api, url: `${base}/v1/waits` },
  ].filter((v) => !process.env.ONLY || process.env.ONLY.split(',').some((o) => v.name.includes(o)));
  for (const v of variants) await runLoad(tool, v.url, 2, 50, { headers: v.headers, expect: v.expect });
  const per = new Map<string, { us: number[]; rps: number[]; p99: number[]; bytes: number[] }>();
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const before = cpuMs(v.child.pid);
      const out = await runLoad(tool, v.url, SECONDS, 50, { headers: v.headers, expect: v.expect });
      const used = cpuMs(v.child.pid) - before;
      const m = per.get(v.name) ?? { us: [], rps: [], p99: [], bytes: [] };
      m.us.push((used * 1000) / out.requests);
      m.rps.push(out.reqPerSec);
      m.p99.push(out.p99);
      m.bytes.push(out.bytesPerReq);
      per.set(v.name, m);
    }
  }
  console.log(`load: ${tool}, 50 connections, ${SECONDS} s x ${ROUNDS} rounds; median (all rounds)`);
  for (const [name, m] of per) {
    const f = (xs: number[], d: number) => xs.map((x) => x.toFixed(d)).join(' ');
    console.log(`${name.padEnd(14)} ${median(m.us).toFixed(1).padStart(6)} us CPU/req (${f(m.us, 1)})  ${Math.round(median(m.rps))} req/s  p99 ${median(m.p99).toFixed(2)} ms (${f(m.p99, 2)})  ${Math.round(median(m.bytes))} B/response`);
  }
  await bare.stop();
  await api.stop();
  await h.cleanup(prefix);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await h.close();
}
