/**
 * ORDER-INDEPENDENCE PROPERTY: the queue store's final Redis state, and every window read from it, depend only on
 * the SET of events applied, not on delivery order or duplicates. Events come from the DES (two queues of one
 * crossing) plus hand-made edge cases (same-ms ties, a ref that crosses twice, crossing-wide and scoped statuses,
 * an arrival without ref). Each run applies them in seeded shuffled orders with random duplicates into separate
 * prefixes of the shared redis-server, then compares canonical dumps and windows (also against windowFromEvents).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import { simulateQueue } from '../../shared/sim/des.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import { computeEstimate } from '../../shared/estimation/model.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';
import { dumpKeys } from '../../shared/queue-store/dump.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { redisUrl, uniquePrefix } from '../helpers/env.ts';
import { rng, storeScenario } from '../helpers/store-scenarios.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 10, 20, 6, 0, 0);
const QA: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' };
const QB: QueueRef = { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car' };

const spec = (q: QueueRef, seed: number) =>
  storeScenario(q, seed, T0, { closures: q === QB ? [{ fromMs: T0 + 50 * MIN, toMs: T0 + 60 * MIN, announceUntil: true }] : [] });

function edgeCases(): KezekEvent[] {
  let n = 0;
  const mk = (o: Record<string, unknown>) => KezekEventSchema.parse({ eventId: `edge-${++n}`, ...QA, ...o });
  const at = (m: number, s = 0) => new Date(T0 + m * MIN + s).toISOString();
  return [
    // two observations at the same millisecond: the greater eventId is the newest
    mk({ type: 'queue.observed', occurredAt: at(33), queueLength: 12 }),
    mk({ type: 'queue.observed', occurredAt: at(33), queueLength: 9 }),
    // a vehicle that crosses twice with the same ref
    mk({ type: 'vehicle.arrived', occurredAt: at(2), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(10), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(12), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.arrived', occurredAt: at(50), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(70), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(71), vehicleRef: 'TWICE' }),
    // arrival and start at the same ms; an arrival without ref
    mk({ type: 'vehicle.arrived', occurredAt: at(20, 5), vehicleRef: 'SAME' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(20, 5), vehicleRef: 'SAME' }),
    mk({ type: 'vehicle.arrived', occurredAt: at(21) }),
    // crossing-wide and scoped statuses
    mk({ type: 'crossing.status', occurredAt: at(25), status: 'restricted', reason: 'convoy', direction: undefined, vehicleClass: undefined }),
    mk({ type: 'crossing.status', occurredAt: at(65), status: 'open', direction: undefined, vehicleClass: undefined }),
    mk({ type: 'crossing.status', occurredAt: at(30), status: 'restricted', direction: undefined, vehicleClass: 'car', until: at(80) }),
    mk({ type: 'lanes.changed', occurredAt: at(40), lanesOpen: 3 }),
  ];
}

/** A shuffled delivery with ~10 % duplicates; `window` > 0 bounds the disorder to blocks of that many events. */
function delivery(events: KezekEvent[], seed: number, block = 0): KezekEvent[] {
  const r = rng(seed);
  const withDups = events.flatMap((e) => (r() < 0.1 ? [e, e] : [e]));
  const shuffle = (xs: KezekEvent[]) => {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
  if (block <= 0) return shuffle(withDups);
  const sorted = [...withDups].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const out: KezekEvent[] = [];
  for (let i = 0; i < sorted.length; i += block) out.push(...shuffle(sorted.slice(i, i + block)));
  return out;
}

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

async function applyInOrder(events: KezekEvent[], opts: { retentionMs?: number; historyRetentionMs?: number } = {}): Promise<{ store: QueueStore; prefix: string; outcomes: string[] }> {
  const prefix = uniquePrefix();
  const store = createQueueStore({ redis, prefix, ...opts });
  // fired together: ioredis pipelines them in array order, each is still one atomic script call
  const outcomes = await Promise.all(events.map((e) => store.applyEvent(e).catch((err: { code?: string }) => `error:${err.code}`)));
  return { store, prefix, outcomes };
}

/** One event per store call: each is awaited before the next is sent (no batching). */
async function applyOneByOne(events: KezekEvent[], opts: { retentionMs?: number; historyRetentionMs?: number } = {}): Promise<{ store: QueueStore; prefix: string; outcomes: string[] }> {
  const prefix = uniquePrefix();
  const store = createQueueStore({ redis, prefix, ...opts });
  const outcomes: string[] = [];
  for (const e of events) outcomes.push(await store.applyEvent(e).catch((err: { code?: string }) => `error:${err.code}`));
  return { store, prefix, outcomes };
}

async function canonicalDump(store: QueueStore, prefix: string) {
  const d = await dumpKeys(redis, store.keys.root);
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k.replace(prefix, 'P'), v]));
}

const catalogue = loadCatalogue();
const modelFor = (q: QueueRef) => (w: Parameters<typeof computeEstimate>[0]) =>
  computeEstimate(w, { profile: catalogue.profile(q.crossingId, q.vehicleClass)!, localZone: catalogue.localZone(q.crossingId)!, staleAfterMs: 15 * MIN, nowMs: 0, revision: 0 });

describe('order independence of the queue store', () => {
  it('any delivery order with duplicates gives the same Redis state, windows and estimates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 1_000_000 }), fc.array(fc.integer({ min: 1, max: 2 ** 31 }), { minLength: 2, maxLength: 3 }), async (simSeed, orderSeeds) => {
        const events = [...simulateQueue(spec(QA, simSeed)).events, ...simulateQueue(spec(QB, simSeed + 1)).events, ...edgeCases()];
        expect(events.length).toBeGreaterThan(200);
        const runs = [await applyInOrder(events)];
        for (const s of orderSeeds) runs.push(await applyInOrder(delivery(events, s)));
        const [ref, ...others] = await Promise.all(runs.map((r) => canonicalDump(r.store, r.prefix)));
        for (const o of others) expect(o).toEqual(ref);
        for (const r of runs) expect(r.outcomes.filter((x) => x.startsWith('error'))).toEqual([]);
        for (const q of [QA, QB]) {
          for (const [asOf, lookback] of [
            [T0 + 15 * MIN, 10 * MIN],
            [T0 + 47 * MIN + 1234, 30 * MIN],
            [T0 + 62 * MIN, 6 * HOUR],
            [T0 + 3 * HOUR, 2 * HOUR],
          ] as const) {
            const oracle = windowFromEvents(events, q, asOf, lookback);
            for (const r of runs) expect(await r.store.readWindow(q, asOf, lookback)).toEqual(oracle);
            const est = modelFor(q)(oracle);
            const fromStore = modelFor(q)(await runs[1]!.store.readWindow(q, asOf, lookback));
            expect(fromStore).toEqual(est);
          }
          const h = await Promise.all(runs.map((r) => r.store.readHistory(q, T0, T0 + 2 * HOUR, 15 * MIN)));
          for (const x of h.slice(1)) expect(x).toEqual(h[0]);
        }
      }),
      { numRuns: 3 },
    );
  });

  it('with retention trimming, any order whose disorder stays within the retention gives the same state', async () => {
    const events = [...simulateQueue({ ...spec(QA, 11), durationMs: 3 * HOUR }).events, ...edgeCases()];
    const retentionMs = 45 * MIN;
    const runs = [await applyInOrder([...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt)), { retentionMs })];
    for (const s of [3, 4, 5]) runs.push(await applyInOrder(delivery(events, s, 15), { retentionMs }));
    for (const r of runs) expect(r.outcomes.filter((x) => x.startsWith('error'))).toEqual([]);
    const [ref, ...others] = await Promise.all(runs.map((r) => canonicalDump(r.store, r.prefix)));
    for (const o of others) expect(o).toEqual(ref);
    // the fold is exact: windows after the trim boundary equal the oracle built from every event
    const meta = await redis.hgetall(runs[0]!.store.keys.queue(QA).meta);
    const boundary = Number(meta.tb);
    expect(boundary).toBeGreaterThan(T0 + HOUR);
    const asOf = boundary + 30 * MIN;
    for (const r of runs) {
      const w = await r.store.readWindow(QA, asOf, 30 * MIN);
      expect(w).toEqual(windowFromEvents(events, QA, asOf, 30 * MIN));
      expect(w.queueLengthAtFrom).toBe(windowFromEvents(events, QA, asOf, 30 * MIN).queueLengthAtFrom);
    }
  });

  it('events applied together (one script call per crossing and tick) give the same outcomes and state as one call each', async () => {
    // retention and history retention short enough that records, eventIds and history buckets are trimmed inside
    // batches; a late block (older than the retention) is refused as too late; duplicates within a batch
    const all = [...simulateQueue({ ...spec(QA, 21), durationMs: 3 * HOUR }).events, ...simulateQueue({ ...spec(QB, 22), durationMs: 3 * HOUR }).events, ...edgeCases()];
    const sorted = [...all].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    const late = sorted.slice(0, 40);
    const opts = { retentionMs: 45 * MIN, historyRetentionMs: 10 * MIN };
    // an eventId that the per-event sequence forgets within the batch (trimmed once a newer event moved the
    // crossing's cutoff past it): its redelivery right after is too late, not a duplicate
    const endMs = Date.parse(sorted[sorted.length - 1]!.occurredAt);
    const mk = (id: string, ms: number) => KezekEventSchema.parse({ eventId: id, ...QA, type: 'vehicle.arrived', occurredAt: new Date(ms).toISOString(), vehicleRef: id });
    const forgotten = [mk('forgotten', endMs + HOUR), mk('newer', endMs + HOUR + opts.retentionMs + MIN)];
    for (const events of [
      [...delivery(sorted, 7, 20), ...late, ...forgotten, forgotten[0]!],
      [...delivery(sorted, 8, 150), ...late.slice(0, 10)],
    ]) {
      const one = await applyOneByOne(events, opts);
      const together = await applyInOrder(events, opts);
      expect(together.outcomes).toEqual(one.outcomes);
      expect(one.outcomes).toContain('error:TOO_LATE');
      expect(one.outcomes).toContain('duplicate');
      expect(await canonicalDump(together.store, together.prefix)).toEqual(await canonicalDump(one.store, one.prefix));
    }
  });
});
