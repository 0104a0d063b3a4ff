/**
 * Redis memory of the queue store is bounded by the retention window (event time), not by the number of events
 * applied: with steady traffic, the store's keys take about as much memory after 16 hours of events as after 4 once
 * both are well past the retention. The bench's growth row (bench/rows/growth.ts) cannot show this: its 1M events
 * span ~6 days, inside the default 7-day retention, so Redis there grows with every event by design.
 *
 * The traffic is a stationary DES queue with the untidy parts that could leak per-vehicle state: arrivals that are
 * not reported (a service start without its arrival), abandonments that are not reported (an arrival that never
 * completes), and periodic counts. The control run keeps the default 7-day retention: the same events then grow
 * memory about as much as the events, so the bounded run's flatness is the retention's doing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { simulateQueue } from '../../shared/sim/des.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { redisUrl, uniquePrefix } from '../helpers/env.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 0, 0, 0);

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

/** 16 h of steady traffic on one queue: ~200 vehicles an hour, 5 lanes, impatient drivers, partial reporting. */
function steadyTraffic(): KezekEvent[] {
  const { events } = simulateQueue({
    crossingId: 'korday',
    direction: 'KZ-KG',
    vehicleClass: 'car',
    startMs: T0,
    durationMs: 16 * HOUR,
    seed: 11,
    arrivalRatePerHour: () => 200,
    maxArrivalRatePerHour: 200,
    lanes: [{ atMs: T0, value: 5 }],
    serviceTimeMeanSeconds: 85,
    serviceTimeScv: 0.5,
    patienceMeanMinutes: 90,
    reportArrivalProbability: 0.9,
    reportAbandonProbability: 0.5,
    observationEveryMs: 30 * 60_000,
    probeEveryMs: Infinity,
  });
  return events.map((e) => pseudonymiseEvent(e as KezekEvent & { vehicleRef?: string }, 'test-key'));
}

/** Exact memory of every key under the prefix (MEMORY USAGE ... SAMPLES 0), and how many keys. */
async function footprint(prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    for (const k of batch) {
      bytes += (await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) as number;
      keys += 1;
    }
  } while (cursor !== '0');
  return { bytes, keys };
}

/** Applies the events in event-time order and reads the footprint once event time passes each checkpoint. */
async function footprintsAt(store: QueueStore, prefix: string, events: readonly KezekEvent[], checkpoints: number[]): Promise<number[]> {
  const out: number[] = [];
  let next = 0;
  for (const e of events) {
    while (next < checkpoints.length && Date.parse(e.occurredAt) >= checkpoints[next]!) {
      out.push((await footprint(prefix)).bytes);
      next++;
    }
    await store.applyEvent(e);
  }
  return out;
}

describe('queue store memory', () => {
  it('is bounded by the retention window, not by the number of events applied', async () => {
    const events = steadyTraffic();
    const applied = (t: number) => events.filter((e) => Date.parse(e.occurredAt) < t).length;
    const checkpoints = [T0 + 4 * HOUR, T0 + 16 * HOUR - 60_000];
    // the events grow about 4x between the checkpoints
    expect(applied(checkpoints[1]!) / applied(checkpoints[0]!)).toBeGreaterThan(3.5);

    const boundedPrefix = uniquePrefix();
    const bounded = createQueueStore({ redis, prefix: boundedPrefix, retentionMs: HOUR, historyRetentionMs: 2 * HOUR });
    const [b4, b16] = await footprintsAt(bounded, boundedPrefix, events, checkpoints);

    const controlPrefix = uniquePrefix();
    const control = createQueueStore({ redis, prefix: controlPrefix }); // the default 7-day retention
    const [c4, c16] = await footprintsAt(control, controlPrefix, events, checkpoints);

    const boundedGrowth = b16! / b4!;
    const controlGrowth = c16! / c4!;
    console.log(`store memory 4 h -> 16 h of events: retention 1 h ${b4} -> ${b16} B (x${boundedGrowth.toFixed(2)}); retention 7 d ${c4} -> ${c16} B (x${controlGrowth.toFixed(2)})`);
    expect(controlGrowth).toBeGreaterThan(2.5);
    // the bounded footprint moves only with how many events the last hour happened to have (Poisson noise)
    expect(boundedGrowth).toBeLessThan(1.2);
  }, 120_000);
});
