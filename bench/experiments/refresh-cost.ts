/**
 * What one estimate refresh costs, by window size, with whole-window reads and with delta reads (the store's
 * readLatestWindow keeps each queue's last window and fetches only what came after it): a throwaway redis-server gets
 * DES events for every catalogued queue (applied through the queue store, as the estimator does); then, ROUNDS
 * times, 300 more events are applied (about 4 per queue) and every queue is refreshed, 8 at a time like the
 * estimator's catch-up: read-window as of its newest event (6 h lookback) -> the model -> write-estimate (the
 * publisher's steps without the NATS publish). Reported per refresh: the process's CPU and redis-server's CPU.
 * Event counts 4k / 17k / 40k give windows of about 55 / 235 / 555 records (the ingest row's runs refresh
 * ~235-record windows).
 * `node --import tsx bench/experiments/refresh-cost.ts` (EVENTS=4000,17000,40000 ROUNDS=10 by default).
 * On 2026-11-22 (2 x Intel Xeon, one run), per refresh, whole vs delta reads: 68-record windows: node 0.76 vs 0.61
 * ms, redis 0.54 vs 0.26 ms; 259 records: node 0.90 vs 0.45, redis 1.58 vs 0.26; 578 records: node 1.70 vs 0.76,
 * redis 3.32 vs 0.38 ms (the delta runs read 718 of 792 windows as deltas: the first read of each queue is whole).
 * That run predates the store's 30,000-record bound on kept windows: 72 windows of 578 records exceed it, and the
 * bound's first eviction rule, plain LRU, dropped every window before its next read (re-run after the bound: 4 delta
 * reads of 792, node 2.16, redis 3.57 ms: the cost of whole reads). keepWindow in shared/queue-store/store.ts has
 * replaced that LRU since: the windows that fit stay kept while they are read, the others are read whole. Whole reads cost roughly 0.8-1 ms of Node and 0.3 ms of Redis per refresh plus ~2-3 us of Node and ~4-5 us of
 * Redis per record; a delta read's cost hardly depends on the window.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedisServer } from '../../shared/local-servers.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';
import { computeEstimate, MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import { applyThroughStore, desEvents } from '../lib/events.ts';
import { cpuMs } from '../lib/procs.ts';

const COUNTS = (process.env.EVENTS ?? '4000,17000,40000').split(',').map(Number);
const ROUNDS = Number(process.env.ROUNDS ?? 10);
const PER_ROUND = 300;
const CONCURRENCY = 8;
const server = await startRedisServer({ dataDir: mkdtempSync(join(tmpdir(), 'kezek-refresh-cost-')) });
const redis = new Redis(server.url);
const catalogue = loadCatalogue();
const queues = catalogue.queues();
const f = (ms: number) => ms.toFixed(2).padStart(6);

async function refreshAll(store: QueueStore, revision: number): Promise<{ n: number; records: number }> {
  let n = 0;
  let records = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      for (const q of queues.filter((_, i) => i % CONCURRENCY === worker)) {
        const w = await store.readLatestWindow(q, MODEL_LOOKBACK_MS);
        if (!w) continue;
        const est = computeEstimate(w, { profile: catalogue.profile(q.crossingId, q.vehicleClass)!, localZone: catalogue.localZone(q.crossingId)!, staleAfterMs: 15 * 60_000, nowMs: Date.now(), revision });
        await store.writeEstimate(est);
        n += 1;
        records += w.records.length;
      }
    }),
  );
  return { n, records };
}

try {
  console.log('records/window | reads | node cpu ms | redis cpu ms  (per refresh)');
  let run = 0;
  for (const count of COUNTS) {
    const events = desEvents({ catalogue, queues, count: count + ROUNDS * PER_ROUND, endMs: Date.now() - 60_000, tag: `r${count}` });
    for (const mode of ['whole', 'delta'] as const) {
      const store = createQueueStore({ redis, prefix: `kezek-refresh-cost-${++run}`, windowCacheRecords: mode === 'whole' ? 0 : undefined });
      await applyThroughStore(store, events.slice(0, count));
      await refreshAll(store, 1); // the first read of each queue is a whole one either way
      let node = 0, redisMs = 0, n = 0, records = 0;
      for (let r = 0; r < ROUNDS; r++) {
        await applyThroughStore(store, events.slice(count + r * PER_ROUND, count + (r + 1) * PER_ROUND));
        const redis0 = cpuMs(server.pid);
        const node0 = process.cpuUsage();
        const done = await refreshAll(store, r + 2);
        const used = process.cpuUsage(node0);
        node += (used.user + used.system) / 1000;
        redisMs += cpuMs(server.pid) - redis0;
        n += done.n;
        records += done.records;
      }
      const reads = store.windowReads();
      console.log(`${String(Math.round(records / n)).padStart(14)} | ${mode} (${reads.delta} delta, ${reads.full} whole) | ${f(node / n)}      | ${f(redisMs / n)}`);
    }
  }
} finally {
  redis.disconnect();
  await server.stop();
}
