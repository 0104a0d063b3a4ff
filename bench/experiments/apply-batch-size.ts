/**
 * What an apply-events call costs per event by how many events it carries: the ingest row's 15,000 DES events are
 * applied straight through the queue store of a throwaway redis-server, B events per crossing per round (all 12
 * crossings' calls of a round in flight together, then the next round), for B = 1, 4, 16, 64, 128, 256; measured:
 * redis-server's CPU and this process's CPU per event, and the wall time. Each size gets its own key prefix (a fresh
 * store) after the same 2,000 warm-up events. Two passes, so the second shows the sizes on JIT-compiled code.
 * `node --import tsx bench/experiments/apply-batch-size.ts` (SIZES=1,4,16,64,128,256).
 *
 * On 2026-11-22 (2 x AMD EPYC, 3 runs), redis / node us per event: B=1 68-80 / 51-72, B=4 33-38 / 18-21,
 * B=16 16-21 / 6-9, B=64 11-14 / 4.5-6.5, B=128 11.3 / 3-5, B=256 11-12 / 4-5. So a call has a fixed cost of the order of 50 us of
 * Redis CPU (the crossing's and queues' metadata reads, one write per key touched) beside ~10 us per event.
 * Under the consume loop the calls carry ~16-18 events on average, about a third of them 1-2 events (counted with
 * a temporary counter in store.ts's sendBatch during consume-cost.ts). Making them larger was tried and NOT adopted (same evening,
 * consume-cost.ts SETTINGS, 8 rounds, and 2 alternating pairs of `npm run bench -- --only ingest`): holding a
 * crossing's events while its previous call is in flight, for up to 2-20 ms (with 256 or 1024 messages in flight),
 * raised the average call to 35-40 events and saved 2-3 ms of Redis CPU per 1k events but not the total: the ingest
 * rows stayed within their run-to-run spread ((b) 63 / 56 % against 56 / 60 %), and the wait adds to every
 * event's latency. The events of one tick reach a crossing in small groups because 12 crossings share the stream.
 */
import { experimentServers } from '../lib/experiment.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import { ingestWorkload } from '../lib/events.ts';
import { cpuMs } from '../lib/procs.ts';

const { redisSrv, redis, close } = await experimentServers('apply-batch-size');
const workload = ingestWorkload(loadCatalogue(), 15_000, 2_000);
const byCrossing = new Map<string, KezekEvent[]>();
for (const e of workload.events) byCrossing.set(e.crossingId, [...(byCrossing.get(e.crossingId) ?? []), e]);
const sizes = (process.env.SIZES ?? '1,4,16,64,128,256').split(',').map(Number);
const n = workload.events.length;
let prefixes = 0;
for (const pass of [1, 2]) {
  for (const size of sizes) {
    const store = createQueueStore({ redis, prefix: `abs${prefixes++}` });
    for (const e of workload.warmup) await store.applyEvent(e);
    const r0 = cpuMs(redisSrv.pid);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    // applyEvent calls made in one tick for one crossing go out as one apply-events call (store.ts)
    const cursors = [...byCrossing.values()].map((events) => ({ events, next: 0 }));
    while (cursors.some((c) => c.next < c.events.length)) {
      const calls: Promise<unknown>[] = [];
      for (const c of cursors) for (let k = 0; k < size && c.next < c.events.length; k++) calls.push(store.applyEvent(c.events[c.next++]!));
      await Promise.all(calls);
    }
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const redisUs = ((cpuMs(redisSrv.pid) - r0) * 1000) / n;
    console.log(`pass ${pass} B=${size}: ${n} events in ${wallMs.toFixed(0)} ms; CPU us per event: redis-server ${redisUs.toFixed(1)}, node ${((c.user + c.system) / n).toFixed(1)}`);
  }
}
await close();
