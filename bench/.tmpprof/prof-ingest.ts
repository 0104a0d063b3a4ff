import { createHarness, defaultOptions, BENCH_PSEUDONYM_KEY } from '../../bench/lib/harness.ts';
import { desEvents, publishEvents } from '../../bench/lib/events.ts';
import { startChild, waitUntil, cpuMs } from '../../bench/lib/procs.ts';
import { subjects } from '../../shared/events/subjects.ts';
const n = Number(process.argv[2] ?? 5000);
const prof = process.argv.includes('--prof');
const h = await createHarness(defaultOptions(true));
const events = desEvents({ catalogue: h.catalogue, queues: h.catalogue.queues(), count: n, endMs: Date.now() - 60_000, tag: 'ing' });
for (let rep = 0; rep < 2; rep++) {
const pb = h.newPrefix('ingb');
const est = await startChild('estimator', { env: h.env(pb), execArgv: prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [] });
const c0 = cpuMs(est.pid), r0 = cpuMs(h.redisServer.pid), n0 = cpuMs(h.nats.pid);
const t0 = performance.now();
await publishEvents(h.js, subjects(pb), events, BENCH_PSEUDONYM_KEY);
await waitUntil(async () => ((await est.stats()).processed ?? 0) >= events.length, 'drain', 300000, 25);
const dt = performance.now() - t0;
const s = await est.stats();
console.log(JSON.stringify({ events: events.length, evps: Math.round(events.length * 1000 / dt), cpuPer1k: { est: Math.round((cpuMs(est.pid) - c0) * 1000 / events.length), redis: Math.round((cpuMs(h.redisServer.pid) - r0) * 1000 / events.length), nats: Math.round((cpuMs(h.nats.pid) - n0) * 1000 / events.length) }, counters: s.counters }));
await est.stop();
await h.cleanup(pb);
}
await h.close();
