import { createHarness, defaultOptions, BENCH_PSEUDONYM_KEY } from '../lib/harness.ts';
import { desEvents, publishEvents } from '../lib/events.ts';
import { startChild, waitUntil, cpuMs } from '../lib/procs.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { baselineNames } from '../services/ipc.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
const n = Number(process.argv[2] ?? 5000);
const reps = Number(process.argv[3] ?? 2);
const prof = process.argv.includes('--prof');
const h = await createHarness(defaultOptions(true));
const events = desEvents({ catalogue: h.catalogue, queues: h.catalogue.queues(), count: n, endMs: Date.now() - 60_000, tag: 'ing' });
const payloads = events.map((ev) => JSON.stringify(pseudonymiseEvent(ev as any, BENCH_PSEUDONYM_KEY)));
const res: string[] = [];
for (let rep = 0; rep < reps; rep++) {
  const pb = h.newPrefix('ingb');
  const est = await startChild('estimator', { env: h.env(pb), execArgv: prof ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : [] });
  const c0 = cpuMs(est.pid);
  const t0 = performance.now();
  await publishEvents(h.js, subjects(pb), events, BENCH_PSEUDONYM_KEY);
  await waitUntil(async () => ((await est.stats()).processed ?? 0) >= events.length, 'drain', 300000, 25);
  const rate = events.length * 1000 / (performance.now() - t0);
  const cpuE = (cpuMs(est.pid) - c0) * 1000 / events.length;
  await est.stop();
  await h.cleanup(pb);
  const pc = h.newPrefix('ingbase');
  const base = await startChild('baseline', { env: h.env(pc) });
  const names = baselineNames(pc);
  const c1 = cpuMs(base.pid);
  const t1 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < payloads.length; i++) {
    const p: Promise<unknown> = h.js.publish(names.subject, payloads[i]!, { msgID: `base:${i}`, timeout: 30_000 }).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 2000) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await waitUntil(async () => ((await base.stats()).processed ?? 0) >= payloads.length, 'drain', 300000, 25);
  const rateB = payloads.length * 1000 / (performance.now() - t1);
  const cpuB = (cpuMs(base.pid) - c1) * 1000 / payloads.length;
  await base.stop();
  await h.cleanup(pc);
  const line = `est ${rate.toFixed(0)} ev/s cpu ${cpuE.toFixed(0)} | base ${rateB.toFixed(0)} ev/s cpu ${cpuB.toFixed(0)} | ratio ${(rate / rateB * 100).toFixed(0)}%`;
  console.log(line);
}
await h.close();
