/**
 * Where Redis spends its time during the ingest row's (b) run: the real estimator (a child process, as in the
 * benchmark) applies 15,000 DES events published straight to JetStream after 2,000 warm-up events, with Redis'
 * SLOWLOG recording EVERY command; the run is then split by Lua script (EVALSHA resolved to the script's name) and
 * by the commands the scripts call. SLOWLOG adds its own cost (times are inflated, the shares are what counts), so
 * the run also reports Redis' CPU per 1,000 events from /proc. The catch-up after the burst (last event applied ->
 * no refresh pending) is reported with the CPU each process used in it.
 * `node --import tsx bench/experiments/redis-time-by-script.ts` (EVENTS=15000 by default).
 * On 2026-11-22: apply-events ~80 % of the scripts' time (~580 us per call of ~16 events), read-window ~15 % (~0.65-0.95 ms
 * per refresh of a ~200-record window), write-estimate ~1 %; the catch-up took 100-160 ms, with the estimator using
 * 80-180 ms of CPU (more than one core: V8's background threads) and Redis 30-60 ms in it.
 */
import { createHash } from 'node:crypto';
import { createHarness, defaultOptions, BENCH_PSEUDONYM_KEY } from '../lib/harness.ts';
import { ingestWorkload, prepareEvents, publishPrepared } from '../lib/events.ts';
import { cpuMs, startChild, waitUntil } from '../lib/procs.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { scriptDefs } from '../../shared/queue-store/scripts.ts';

const N = Number(process.env.EVENTS ?? 15_000);
const h = await createHarness(defaultOptions(false));
try {
  const scriptName = new Map<string, string>();
  for (const d of scriptDefs()) scriptName.set(createHash('sha1').update(d.lua).digest('hex'), d.command);
  const prefix = h.newPrefix('slowlog');
  const est = await startChild('estimator', { env: h.env(prefix) });
  const s = subjects(prefix);
  const { events, warmup: warm } = ingestWorkload(h.catalogue, N, 2_000);
  const n = events.length; // the DES may produce fewer than N (in the evening, a span lighter than average)
  const applied = async () => (await est.stats({ memory: false })).processed ?? 0;
  const pending = async () => (await est.stats({ memory: false })).counters?.refreshPending ?? 1;
  await publishPrepared(h.js, prepareEvents(warm, s, BENCH_PSEUDONYM_KEY));
  await waitUntil(async () => (await applied()) >= warm.length, 'the warm-up applied', 60_000, 25);
  await waitUntil(async () => (await pending()) === 0, 'the warm-up refreshed', 60_000, 25);
  const prepared = prepareEvents(events, s, BENCH_PSEUDONYM_KEY);
  const refreshesBefore = (await est.stats({ memory: false })).counters?.refreshes ?? 0;
  await h.redis.config('SET', 'slowlog-max-len', '1000000');
  await h.redis.config('SET', 'slowlog-log-slower-than', '0');
  await h.redis.slowlog('RESET');
  const redisBefore = cpuMs(h.redisServer.pid);
  const t0 = performance.now();
  await publishPrepared(h.js, prepared);
  await waitUntil(async () => (await applied()) >= warm.length + n, 'the events applied', 120_000, 25);
  const tApplied = performance.now();
  const atApplied = { est: cpuMs(est.pid), nats: cpuMs(h.nats.pid), redis: cpuMs(h.redisServer.pid) };
  await waitUntil(async () => (await pending()) === 0, 'the estimates to catch up', 60_000, 10);
  const tCaught = performance.now();
  const redisAfter = cpuMs(h.redisServer.pid);
  await h.redis.config('SET', 'slowlog-log-slower-than', '10000');
  const entries = (await h.redis.slowlog('GET', 1_000_000)) as [number, number, number, string[]][];
  const by = new Map<string, { calls: number; us: number }>();
  for (const [, , us, args] of entries) {
    let name = String(args[0]).toLowerCase();
    if (name === 'evalsha') name = scriptName.get(String(args[1])) ?? 'evalsha (unknown script)';
    if (name === 'slowlog' || name === 'config') continue;
    const b = by.get(name) ?? { calls: 0, us: 0 };
    b.calls += 1;
    b.us += Number(us);
    by.set(name, b);
  }
  const refreshes = ((await est.stats({ memory: false })).counters?.refreshes ?? 0) - refreshesBefore;
  console.log(`${n} events: applied at ${Math.round((n * 1000) / (tApplied - t0))} ev/s; estimates caught up ${Math.round(tCaught - tApplied)} ms later; ${refreshes} refreshes`);
  console.log(`Redis CPU (/proc, SLOWLOG on): ${(((redisAfter - redisBefore) * 1000) / n).toFixed(1)} ms per 1k events`);
  console.log(
    `catch-up CPU (ms): estimator ${cpuMs(est.pid) - atApplied.est}, nats-server ${cpuMs(h.nats.pid) - atApplied.nats}, redis-server ${redisAfter - atApplied.redis} (/proc, 10 ms ticks)`,
  );
  console.log('Scripts (kezek*) include the commands they call, listed separately below them; us = SLOWLOG microseconds.');
  for (const [name, b] of [...by].sort((x, y) => y[1].us - x[1].us)) {
    console.log(`${name.padEnd(24)} ${String(b.calls).padStart(8)} calls ${((b.us * 1000) / n).toFixed(0).padStart(8)} us per 1k events ${(b.us / b.calls).toFixed(1).padStart(8)} us per call`);
  }
  await est.stop();
} finally {
  await h.close();
}
