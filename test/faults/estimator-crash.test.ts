/**
 * FAULT 1: the estimator process is SIGKILLed in the middle of a heavy stream (FAULT_EVENTS, default 20,000 DES
 * events over four queues), then started again. Its final state must equal the state computed from the full
 * event log (every event applied once, directly, under a fresh prefix): same canonical dump of records, ids,
 * folds and history counts; same model estimates now and at past instants; stored estimates agree with them.
 * The crash hits steady-state consumption (marker written, durable consumer mid-stream, a batch in flight): the
 * restart resumes from the durable position and the unacked batch is redelivered (ack_wait) without double counting.
 * The estimator runs as a child process (tsx services/estimator/main.ts) on the shared test servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';
import type { StartProcess } from '../helpers/start-process.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { appliedCount, consumerBacklog, eventState, heavyStream, HOUR, modelAt, publishEvents, QUEUES, referenceStore, spawnEstimator, until } from './lib.ts';

const N = Number(process.env.FAULT_EVENTS ?? 23_000);

describe('estimator SIGKILLed mid-stream', () => {
  let nc: NatsConnection;
  let redis: Redis;
  const children: StartProcess[] = [];
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'fault-crash' });
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
  });
  afterAll(async () => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await nc?.drain().catch(() => undefined);
    redis?.disconnect();
  });

  it('after a restart, the state equals the one computed from the full event log', { timeout: 240_000 }, async () => {
    const prefix = uniquePrefix();
    const events = heavyStream(N);
    const unique = new Set(events.map((e) => e.eventId)).size;
    expect(unique).toBe(events.length);
    expect(events.length).toBeGreaterThan(N * 0.8);
    await ensureStreams(nc, { prefix });
    const env = { natsUrl: natsUrl(), redisUrl: redisUrl(), prefix };

    // the estimator initialises on an empty stream, then the whole log arrives while it consumes
    const first = spawnEstimator(env);
    children.push(first);
    await first.waitFor((l) => l.msg === 'estimator consuming', 60_000);
    const publishing = publishEvents(nc, prefix, events);
    const killAt = Math.floor(events.length * 0.35);
    await until('35 % applied', async () => (await appliedCount(redis, prefix)) >= killAt, 180_000, 20);
    first.proc.kill('SIGKILL');
    const exit = await first.exited;
    expect(exit.signal).toBe('SIGKILL');
    const appliedAtKill = await appliedCount(redis, prefix);
    expect(appliedAtKill).toBeLessThan(events.length);
    await publishing;

    const second = spawnEstimator(env);
    children.push(second);
    await until('every event applied and acked', async () => (await appliedCount(redis, prefix)) === unique && (await consumerBacklog(nc, prefix)) === 0, 180_000, 200);
    // the restarted process refreshes estimates after its last batch; give it a moment, then stop it cleanly
    await until('the last refresh', async () => second.lines.some((l) => l.msg === 'estimator consuming'));
    await new Promise((r) => setTimeout(r, 1500));
    second.proc.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    const stopped = second.lines.find((l) => l.msg === 'estimator stopped');

    const refPrefix = uniquePrefix();
    const ref = await referenceStore(redis, refPrefix, events);
    const [got, want] = await Promise.all([eventState(redis, prefix), eventState(redis, refPrefix)]);
    expect(Object.keys(got).length).toBeGreaterThan(20);
    expect(got).toEqual(want);

    const store = createQueueStore({ redis, prefix });
    for (const q of QUEUES) {
      const last = await ref.lastEventMs(q);
      expect(last).not.toBeNull();
      expect(await store.lastEventMs(q)).toBe(last);
      for (const t of [last!, last! - HOUR, last! - 3 * HOUR]) expect(await modelAt(store, q, t)).toEqual(await modelAt(ref, q, t));
      const stored = await store.readEstimate(q);
      const model = await modelAt(ref, q, last!);
      expect(stored, `${q.direction}/${q.vehicleClass} has a published estimate`).not.toBeNull();
      expect({ queueLength: stored!.queueLength, status: stored!.status, lanesOpen: stored!.lanesOpen }).toEqual({ queueLength: model.queueLength, status: model.status, lanesOpen: model.lanesOpen });
    }
    console.log(
      `[fault:estimator-sigkill] events=${events.length} killedAfterApplied=${appliedAtKill} ` +
        `restartStats=${JSON.stringify({ received: stopped?.received, applied: stopped?.applied, duplicates: stopped?.duplicates, deadLettered: stopped?.deadLettered })} stateKeys=${Object.keys(got).length} equal=true`,
    );
  });
});
