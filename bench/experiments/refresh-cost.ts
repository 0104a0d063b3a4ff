/**
 * What one estimate refresh costs, by window size: a throwaway redis-server gets DES events for every catalogued
 * queue (applied through the queue store, 256 in flight, as the estimator does), then every queue is refreshed
 * ROUNDS times one after the other: read-window as of its newest event (6 h lookback) -> the model ->
 * write-estimate (the publisher's steps without the NATS publish). Reported per refresh: wall time of each step,
 * the process's CPU and redis-server's CPU. Event counts 4k / 17k / 40k give windows of about 55 / 235 / 555 records
 * (the ingest row's 17k-event runs refresh ~235-record windows).
 * `node --import tsx bench/experiments/refresh-cost.ts` (EVENTS=4000,17000,40000 ROUNDS=10 by default).
 * On 2026-11-22 (this script and an earlier draft of it, 4 runs in all; the first size also pays the JIT warm-up):
 * 56 records: node 0.78-1.18 ms, redis 0.44-0.49 ms; 236: node 0.97-1.82, redis 0.85-1.19; 556: node 1.72-2.73,
 * redis 2.39-2.58 ms per refresh. So roughly 0.8-1 ms of Node and 0.3 ms of Redis per refresh whatever the window
 * (two round trips, each socket write ~60 us of CPU on this VM in a profile; the estimate's checks and JSON), plus
 * ~2-3 us of Node (split, parse, sort, model replay) and ~4 us of Redis per record. After the ingest row's
 * 15k-event burst the catch-up refreshes ~72 such windows: ~150-200 ms of CPU. With the estimator's refreshes turned
 * into no-ops (a temporary edit, not a switch; one run), the ingest row measured (a) 67 % and (b) 71 % of the
 * baseline, in the hour when the real code measured (a) 40-50 % and (b) 49-56 %: recomputing the estimates, not
 * applying the events, is most of the gap to the 60 % target.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../shared/local-servers.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { computeEstimate, MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import { desEvents } from '../lib/events.ts';
import { cpuMs } from '../lib/procs.ts';

const COUNTS = (process.env.EVENTS ?? '4000,17000,40000').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const server = await startRedisServer({ dataDir: mkdtempSync(join(tmpdir(), 'kezek-refresh-cost-')) });
const redis = new Redis(server.url);
const catalogue = loadCatalogue();
const queues = catalogue.queues();
const f = (ms: number) => ms.toFixed(2).padStart(6);
try {
  console.log('records/window | read ms | model ms | write ms | node cpu ms | redis cpu ms  (per refresh)');
  for (const [i, count] of COUNTS.entries()) {
    const store = createQueueStore({ redis, prefix: `kezek-refresh-cost-${i}` });
    const events = desEvents({ catalogue, queues, count, endMs: Date.now() - 60_000, tag: `r${i}` });
    let next = 0;
    await Promise.all(Array.from({ length: 256 }, async () => { while (next < events.length) await store.applyEvent(events[next++]!); }));
    let read = 0, model = 0, write = 0, records = 0, n = 0;
    const redis0 = cpuMs(server.pid);
    const node0 = process.cpuUsage();
    for (let r = 0; r < ROUNDS; r++) {
      for (const q of queues) {
        const t0 = performance.now();
        const w = await store.readLatestWindow(q, MODEL_LOOKBACK_MS);
        const t1 = performance.now();
        if (!w) continue;
        const est = computeEstimate(w, { profile: catalogue.profile(q.crossingId, q.vehicleClass)!, localZone: catalogue.localZone(q.crossingId)!, staleAfterMs: 15 * 60_000, nowMs: Date.now(), revision: r + 1 });
        const t2 = performance.now();
        await store.writeEstimate(est);
        write += performance.now() - t2;
        read += t1 - t0;
        model += t2 - t1;
        records += w.records.length;
        n += 1;
      }
    }
    const node = process.cpuUsage(node0);
    const redisMs = cpuMs(server.pid) - redis0;
    console.log(`${String(Math.round(records / n)).padStart(14)} | ${f(read / n)}  | ${f(model / n)}   | ${f(write / n)}   | ${f((node.user + node.system) / 1000 / n)}      | ${f(redisMs / n)}`);
  }
} finally {
  redis.disconnect();
  await server.stop();
}
