/**
 * DELTA WINDOW READS: readLatestWindow keeps each queue's last window and reads only what came after it, unless
 * something was inserted below it since. Property: after every chunk of a delivery with late events, duplicates,
 * statuses and (in some runs) retention trimming or a small record cap, the window it returns equals a whole-window
 * read of the same store AND the window built in TypeScript from the events applied so far (windowFromEvents) -
 * while most reads were in fact delta reads.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import { simulateQueue } from '../../shared/sim/des.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { redisUrl, uniquePrefix } from '../helpers/env.ts';
import { rng, storeScenario } from '../helpers/store-scenarios.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 6, 0, 0);
const QA: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' };
const QB: QueueRef = { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car' };

const spec = (q: QueueRef, seed: number) =>
  storeScenario(q, seed, T0, {
    durationMs: 150 * MIN,
    arrivalRatePerHour: () => 60,
    maxArrivalRatePerHour: 60,
    lanes: [{ atMs: T0, value: 1 }, { atMs: T0 + 70 * MIN, value: 2 }],
    serviceTimeMeanSeconds: 80,
    reportArrivalProbability: 0.85,
    closures: q === QB ? [{ fromMs: T0 + 50 * MIN, toMs: T0 + 60 * MIN, announceUntil: true }] : [],
  });

/** A vehicle seen twice (far apart, and twice within one window), a service start whose arrival was never reported, crossing-wide and scoped statuses. */
function edgeCases(): KezekEvent[] {
  let n = 0;
  const mk = (o: Record<string, unknown>) => KezekEventSchema.parse({ eventId: `edge-${++n}`, ...QA, ...o });
  const at = (m: number, s = 0) => new Date(T0 + m * MIN + s).toISOString();
  return [
    mk({ type: 'vehicle.arrived', occurredAt: at(2), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(10), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(12), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.arrived', occurredAt: at(90), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(120), vehicleRef: 'TWICE' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(121), vehicleRef: 'TWICE' }),
    // two arrivals of one ref inside one window, the start pairs with the later one (20 min lookback: the window
    // start passes both arrivals while the start is still in it, so the kept pairing shows in earlierArrivals)
    mk({ type: 'vehicle.arrived', occurredAt: at(100), vehicleRef: 'TWICE-CLOSE' }),
    mk({ type: 'vehicle.arrived', occurredAt: at(105), vehicleRef: 'TWICE-CLOSE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(112), vehicleRef: 'TWICE-CLOSE' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(113), vehicleRef: 'TWICE-CLOSE' }),
    mk({ type: 'vehicle.service_started', occurredAt: at(40), vehicleRef: 'NEVER-ARRIVED' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(41), vehicleRef: 'NEVER-ARRIVED' }),
    mk({ type: 'vehicle.crossed', occurredAt: at(95), vehicleRef: 'NEVER-STARTED' }),
    mk({ type: 'crossing.status', occurredAt: at(25), status: 'restricted', reason: 'convoy', direction: undefined, vehicleClass: undefined }),
    mk({ type: 'crossing.status', occurredAt: at(65), status: 'open', direction: undefined, vehicleClass: undefined }),
    mk({ type: 'crossing.status', occurredAt: at(100), status: 'closed', direction: undefined, vehicleClass: 'car', until: at(110) }),
  ];
}

/** Event-time order, shuffled within blocks of `block` events (late events), ~10 % sent twice, in chunks of 1-40. */
function chunks(events: KezekEvent[], seed: number, block: number): KezekEvent[][] {
  const r = rng(seed);
  const sorted = [...events].sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
  const order: KezekEvent[] = [];
  for (let i = 0; i < sorted.length; i += block) {
    const b = sorted.slice(i, i + block);
    for (let j = b.length - 1; j > 0; j--) {
      const k = Math.floor(r() * (j + 1));
      [b[j], b[k]] = [b[k]!, b[j]!];
    }
    for (const e of b) order.push(...(r() < 0.1 ? [e, e] : [e]));
  }
  const out: KezekEvent[][] = [];
  for (let i = 0; i < order.length; ) {
    const n = 1 + Math.floor(r() * 40);
    out.push(order.slice(i, i + n));
    i += n;
  }
  return out;
}

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

describe('delta window reads', () => {
  it('after every chunk, the kept-and-extended window equals a whole read and the TypeScript oracle', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.constantFrom(1, 8, 40),
        fc.constantFrom(20 * MIN, 6 * 60 * MIN),
        fc.constantFrom<'plain' | 'trimmed' | 'capped'>('plain', 'trimmed', 'capped'),
        async (simSeed, orderSeed, block, lookback, variant) => {
          const opts = variant === 'trimmed' ? { retentionMs: 45 * MIN } : variant === 'capped' ? { maxWindowRecords: 60 } : {};
          const events = [...simulateQueue(spec(QA, simSeed)).events, ...simulateQueue(spec(QB, simSeed + 1)).events, ...edgeCases()];
          const prefix = uniquePrefix();
          const store = createQueueStore({ redis, prefix, ...opts });
          const whole = createQueueStore({ redis, prefix, ...opts, windowCacheRecords: 0 });
          const applied = new Map<string, KezekEvent>();
          for (const chunk of chunks(events, orderSeed, block)) {
            await Promise.all(
              chunk.map((e) =>
                store.applyEvent(e).then(
                  () => void applied.set(e.eventId, e),
                  (err: { code?: string }) => {
                    if (err.code !== 'TOO_LATE') throw err; // trimmed runs refuse what is older than the retention
                  },
                ),
              ),
            );
            for (const q of [QA, QB]) {
              const got = await store.readLatestWindow(q, lookback);
              const want = await whole.readLatestWindow(q, lookback);
              expect(got).toEqual(want);
              if (got && variant !== 'trimmed') expect(got).toEqual(windowFromEvents([...applied.values()], q, got.asOfMs, got.fromMs === got.asOfMs - lookback ? lookback : got.asOfMs - got.fromMs));
            }
          }
          const reads = store.windowReads();
          expect(whole.windowReads().delta).toBe(0);
          // delta reads are the majority when events come in order (late events force whole reads, and so do a
          // record cap that moves the window start back and trims that reach the counted ranges)
          if (block === 1 && variant === 'plain') expect(reads.delta).toBeGreaterThan(2 * reads.full);
        },
      ),
      { numRuns: Number(process.env.DELTA_RUNS ?? 12) },
    );
  }, 240_000);

  it('a late event below the kept window, and data loss, are seen: the next read is a whole one', async () => {
    const events = simulateQueue(spec(QA, 5)).events.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    const prefix = uniquePrefix();
    const store = createQueueStore({ redis, prefix });
    const late: KezekEvent[] = events.filter((e) => e.type === 'vehicle.arrived').slice(5, 6);
    const rest = events.filter((e) => !late.includes(e));
    for (const e of rest.slice(0, 150)) await store.applyEvent(e);
    await store.readLatestWindow(QA);
    for (const e of rest.slice(150, 160)) await store.applyEvent(e);
    await store.readLatestWindow(QA);
    expect(store.windowReads()).toMatchObject({ full: 1, delta: 1 });
    await store.applyEvent(late[0]!); // long before the kept window's newest event
    const w = await store.readLatestWindow(QA);
    expect(store.windowReads()).toMatchObject({ full: 2, delta: 1 });
    expect(w!.records.some((r) => r.eventId === late[0]!.eventId)).toBe(true);
    // Redis loses the queue's records and gets fewer events again: not mistaken for the kept window
    const keys = await redis.keys(`${prefix}:*`);
    await redis.del(...keys);
    for (const e of rest.slice(0, 100)) await store.applyEvent(e);
    const after = await store.readLatestWindow(QA);
    expect(store.windowReads()).toMatchObject({ full: 3, delta: 1 });
    expect(after).toEqual(windowFromEvents(rest.slice(0, 100), QA, after!.asOfMs, 6 * 60 * MIN));
  });

  /** Two queues' events in a fresh store; the sizes of their windows, and a budget with room for one, not two. */
  async function twoQueues() {
    const events = [...simulateQueue(spec(QA, 7)).events, ...simulateQueue(spec(QB, 8)).events];
    const prefix = uniquePrefix();
    const probe = createQueueStore({ redis, prefix });
    await Promise.all(events.map((e) => probe.applyEvent(e)));
    const sizeA = (await probe.readLatestWindow(QA))!.records.filter((r) => r.kind !== 'T').length;
    const sizeB = (await probe.readLatestWindow(QB))!.records.filter((r) => r.kind !== 'T').length;
    return { prefix, sizeA, sizeB, budget: Math.max(sizeA, sizeB) + 10 };
  }

  it('keeps at most windowCacheRecords records; with windowCacheIdleMs 0, dropping the least recently read windows first', async () => {
    const { prefix, sizeA, sizeB, budget } = await twoQueues();
    const store = createQueueStore({ redis, prefix, windowCacheRecords: budget, windowCacheIdleMs: 0 });
    await store.readLatestWindow(QA);
    await store.readLatestWindow(QA);
    expect(store.windowReads()).toMatchObject({ full: 1, delta: 1, keptRecords: sizeA });
    await store.readLatestWindow(QB); // QA's window goes to make room
    expect(store.windowReads().keptRecords).toBe(sizeB);
    await store.readLatestWindow(QA);
    expect(store.windowReads()).toMatchObject({ full: 3, delta: 1 });
    expect(store.windowReads().keptRecords).toBeLessThanOrEqual(budget);
  });

  it('under round robin over more than the budget, a window read again within windowCacheIdleMs stays kept (not LRU-dropped before its next read)', async () => {
    const { prefix, sizeA, budget } = await twoQueues();
    const store = createQueueStore({ redis, prefix, windowCacheRecords: budget, windowCacheIdleMs: 3_600_000 });
    const lru = createQueueStore({ redis, prefix, windowCacheRecords: budget, windowCacheIdleMs: 0 });
    for (let round = 0; round < 3; round++) {
      for (const s of [store, lru]) {
        await s.readLatestWindow(QA);
        await s.readLatestWindow(QB);
      }
    }
    // QA's window is kept from its first read and read as a delta after; QB's does not fit beside it and is read whole
    expect(store.windowReads()).toMatchObject({ full: 4, delta: 2, keptRecords: sizeA });
    // plain LRU drops each window just before its next read: every read is whole
    expect(lru.windowReads()).toMatchObject({ full: 6, delta: 0 });
    // and the windows read are the same either way
    expect(await store.readLatestWindow(QB)).toEqual(await lru.readLatestWindow(QB));
    expect(await store.readLatestWindow(QA)).toEqual(await lru.readLatestWindow(QA));
  });

  it('a window not read for windowCacheIdleMs makes room for another', async () => {
    const { prefix, sizeB, budget } = await twoQueues();
    const store = createQueueStore({ redis, prefix, windowCacheRecords: budget, windowCacheIdleMs: 50 });
    await store.readLatestWindow(QA);
    await store.readLatestWindow(QB); // QA was kept just now: QB is not kept
    expect(store.windowReads().keptRecords).not.toBe(sizeB);
    await new Promise((r) => setTimeout(r, 80));
    await store.readLatestWindow(QB); // QA idle: dropped for QB
    expect(store.windowReads().keptRecords).toBe(sizeB);
    await store.readLatestWindow(QB);
    expect(store.windowReads()).toMatchObject({ full: 3, delta: 1 });
  });
});
