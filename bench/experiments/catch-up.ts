/**
 * How long the estimates take to catch up after a burst, by the refresher's catch-up concurrency and the publisher's
 * window reads in flight: the ingest row's events (2,000 warm-up, refreshed, then 15,000 more on the 72 catalogued
 * queues) are applied straight through the queue store of a throwaway redis-server; then every queue is enqueued on
 * a real refresher + publisher (NATS publishes to a throwaway nats-server) and the time until nothing is pending is
 * measured (minus the refresher's 25 ms idle wait). Variants `<catch-up concurrency>:<reads in flight>` run
 * interleaved, ROUNDS times each; the first round includes the JIT warm-up.
 * `node --import tsx bench/experiments/catch-up.ts` (VARIANTS=8:1000,64:4,64:1000 ROUNDS=4 by default).
 * On 2026-11-22 (2 x AMD EPYC), medians of 4: 8 at a time (the old default, reads unlimited) 135 ms, 64 at a time 125
 * ms, 64 with 4 reads in flight 107 ms (2 / 8 reads in flight: 116 / 102 ms, 3 rounds); Node ~70-90 ms and Redis
 * ~70-90 ms of CPU each: a catch-up this size is bound by the two together (the 72 delta reads carry ~16,600 records:
 * the pedestrian queues' windows, thousands of records each, dominate).
 */
import { ensureStreams } from '../../shared/nats.ts';
import { experimentServers } from '../lib/experiment.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { createPublisher } from '../../services/estimator/publish.ts';
import { createRefresher } from '../../services/estimator/refresher.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import { applyThroughStore, ingestWorkload } from '../lib/events.ts';
import { cpuMs } from '../lib/procs.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { createLogger } from '../../shared/logger.ts';

const { redisSrv, redis, nc, js, close } = await experimentServers('cu');
const logger = createLogger({ service: 'cu', level: 'warn', pretty: false });
const catalogue = loadCatalogue();
const queues = catalogue.queues();
const ps = (e: KezekEvent) => pseudonymiseEvent(e as KezekEvent & { vehicleRef?: string }, 'k');
const workload = ingestWorkload(catalogue, 15_000, 2_000);
const events = workload.events.map(ps);
const warm = workload.warmup.map(ps);
const variants = (process.env.VARIANTS ?? '8:1000,64:4,64:1000').split(',').map((v) => v.split(':').map(Number) as [number, number]);
const R = Number(process.env.ROUNDS ?? 4);
const res = new Map<string, number[]>();
let n = 0;
for (let r = 0; r < R; r++) {
  for (const [idle, reads] of r % 2 ? [...variants].reverse() : variants) {
    const prefix = `cu${n++}`;
    await ensureStreams(nc, { prefix });
    const store = createQueueStore({ redis, prefix });
    const publisher = createPublisher({ store, js, catalogue, prefix, logger, staleAfterMs: 15 * 60_000, republishEveryMs: 600_000, now: Date.now, readsInFlight: reads });
    await applyThroughStore(store, warm);
    await publisher.seedPriors();
    await publisher.refreshAll();
    await applyThroughStore(store, events);
    const refresher = createRefresher({ refresh: (q) => publisher.refresh(q), minIntervalMs: 1000, concurrency: 1, idleConcurrency: idle, logger });
    await new Promise((r) => setTimeout(r, 200));
    const c0 = process.cpuUsage(); const rc0 = cpuMs(redisSrv.pid);
    for (const q of queues) refresher.enqueue(q, false);
    const t0 = performance.now();
    while (refresher.pending() > 0) await new Promise((r) => setTimeout(r, 1));
    await refresher.close();
    const dt = performance.now() - t0 - 25; // the refresher waits idleMs (25) before a catch-up
    const c = process.cpuUsage(c0);
    const k = `idle ${idle} reads ${reads}`;
    res.set(k, [...(res.get(k) ?? []), dt]);
    console.log(k, 'catch-up', dt.toFixed(0), 'ms; node cpu', ((c.user + c.system) / 1000).toFixed(0), 'redis cpu', cpuMs(redisSrv.pid) - rc0, 'reads', store.windowReads());
  }
}
for (const [k, v] of res) console.log(k, 'median', [...v].sort((a, b) => a - b)[v.length >> 1]!.toFixed(0), 'all', v.map((x) => x.toFixed(0)).join(' '));
await close();
