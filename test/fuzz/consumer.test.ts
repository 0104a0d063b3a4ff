/**
 * Fuzzing the estimator's consumer: garbage published straight onto the events subjects (random bytes, random
 * JSON, events with one hostile field, duplicate keys, proto keys, deep nesting, bad timestamps). Every message the
 * contract rejects ends up exactly once in the dead-letter stream with a reason, the consumer keeps going (a valid
 * event published after the garbage is applied), nothing is retried forever, the queue store is unchanged, and no
 * clear vehicle ref reaches the DLQ.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createLogger } from '../../shared/logger.ts';
import { MAX_EVENTS_PER_MESSAGE, subjects, validateEvent, type KezekEvent } from '../../shared/events/index.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { eventState } from '../faults/lib.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { dumpKeys } from '../../shared/queue-store/dump.ts';
import { createEstimator, type Estimator } from '../../services/estimator/estimator.ts';
import type { DeadLetter } from '../../services/estimator/messages.ts';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';

const KEY = 'fuzz-pseudonym-key-0123456789';
const PLATE = '01KZ777ABC';
const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 600) / 2;
const catalogue = loadCatalogue();
const logger = createLogger({ service: 'fuzz-consumer', level: 'silent', pretty: false });

/** occurredAt of the valid events actually published, for the reference state. */
const validTimes = new Map<string, string>();
const valid = (id: string, agoMs = 60_000) => {
  const occurredAt = validTimes.get(id) ?? new Date(Date.now() - agoMs).toISOString();
  if (id === 'seed-1' || id === 'after-garbage') validTimes.set(id, occurredAt);
  return { eventId: id, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt, vehicleRef: PLATE };
};
const FIELDS = ['eventId', 'type', 'crossingId', 'direction', 'vehicleClass', 'occurredAt', 'vehicleRef', 'queueLength', 'lanesOpen', 'status', 'until'];
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom('', '\u0000', '💥', 'a'.repeat(129), '2026-11-22T08:15:00', '2026-11-22T08:15:00+05', '9999-01-01T00:00:00Z', '1970-01-01T00:00:00Z', 1e308, -1, 2 ** 53 + 1, null, true, [], {}, 'unknown-crossing'),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.jsonValue({ maxDepth: 2 }),
);

function deadLettersOf(data: Buffer): number {
  let v: unknown;
  try {
    v = JSON.parse(data.toString());
  } catch {
    return 1;
  }
  const isObject = (x: unknown) => x !== null && typeof x === 'object' && !Array.isArray(x);
  return Array.isArray(v) && v.length >= 1 && v.length <= MAX_EVENTS_PER_MESSAGE && v.every(isObject) ? v.length : 1;
}

describe('fuzzing the estimator consumer with garbage on the events subjects', () => {
  let nc: NatsConnection;
  let redis: Redis;
  let estimator: Estimator | undefined;
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'fuzz-consumer' });
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await estimator?.stop();
    await nc?.drain().catch(() => undefined);
    redis?.disconnect();
  });

  it('every rejected message is dead-lettered once with a reason and the state does not change', { timeout: 120_000 }, async () => {
    const prefix = uniquePrefix();
    const s = subjects(prefix);
    const jsm = await ensureStreams(nc, { prefix });
    const js = jetstream(nc);
    estimator = createEstimator({ nc, redis, catalogue, prefix, logger, pseudonymKey: KEY, consumer: { ackWaitMs: 2000, maxDeliver: 3 } });
    await estimator.start();
    await js.publish(s.eventsFor('korday', 'KZ-KG'), JSON.stringify(valid('seed-1')), { msgID: 'seed-1' });
    const root = `${prefix}:v1`;
    const applied = async (n: number) => {
      for (let i = 0; i < 300 && estimator!.stats().applied < n; i++) await new Promise((r) => setTimeout(r, 50));
      expect(estimator!.stats().applied).toBe(n);
    };
    await applied(1);
    await new Promise((r) => setTimeout(r, 300)); // the batch's estimate refresh
    const before = await dumpKeys(redis, root);

    let n = 0;
    const garbage = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
      fc.tuple(fc.constantFrom(...FIELDS), hostile).map(([f, v]) => Buffer.from(JSON.stringify({ ...valid(`g-${++n}`), [f]: v }))),
      fc.tuple(fc.constantFrom(...FIELDS), hostile).map(([f, v]) => {
        const t = JSON.stringify(valid(`g-${++n}`));
        return Buffer.from(`${t.slice(0, -1)},${JSON.stringify(f)}:${JSON.stringify(v) ?? 'null'}}`);
      }),
      fc.constantFrom('__proto__', 'constructor').map((k) => Buffer.from(`${JSON.stringify(valid(`g-${++n}`)).slice(0, -1)},"${k}":{"polluted":true}}`)),
      fc.integer({ min: 100, max: 50_000 }).map((d) => Buffer.from('['.repeat(d) + ']'.repeat(d))),
      // batch messages whose events each carry one hostile field (and the plate): every event dead-lettered on its own
      fc
        .array(fc.tuple(fc.constantFrom(...FIELDS), hostile).map(([f, v]) => ({ ...valid(`g-${++n}`), [f]: v })), { minLength: 1, maxLength: 5 })
        .filter((evs) => evs.every((e) => !validateEvent(e, { catalogue }).ok))
        .map((evs) => Buffer.from(JSON.stringify(evs))),
      fc.integer({ min: 1, max: 4 }).map((k) => Buffer.from(JSON.stringify({ ...valid(`g-${++n}`), source: 'x'.repeat(k * 100_000) }))),
    );
    const subject = fc.oneof(fc.constant(s.eventsFor('korday', 'KZ-KG')), fc.constant(s.eventsFor('nowhere')), fc.stringMatching(/^[a-z0-9-]{1,20}$/).map((t) => `${prefix}.v1.events.${t}.all`));
    const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    onTestFailed(() => console.error(`consumer fuzz failed: FUZZ_SEED=${seed} npx vitest run test/fuzz/consumer.test.ts reproduces the garbage`));
    const cases = fc.sample(fc.tuple(subject, garbage), { numRuns: NUM_RUNS, seed });
    const sent = cases.filter(([, data]) => {
      try {
        return !validateEvent(JSON.parse(data.toString()), { catalogue }).ok; // only what the contract rejects
      } catch {
        return true;
      }
    });
    for (const [subj, data] of sent) await js.publish(subj, data);
    // the consumer keeps going after the garbage
    await js.publish(s.eventsFor('korday', 'KZ-KG'), JSON.stringify(valid('after-garbage', 30_000)), { msgID: 'after-garbage' });
    await applied(2);
    const dlqCount = async () => (await jsm.streams.info(s.dlqStream)).state.messages;
    // one dead letter per message, except a batch (an array of 1-1000 objects): one per event (docs/events.md)
    const expected = sent.reduce((sum, [, data]) => sum + deadLettersOf(data), 0);
    for (let i = 0; i < 400 && (await dlqCount()) < expected; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    expect(await dlqCount()).toBe(expected);
    const info = await jsm.consumers.info(s.eventsStream, s.estimatorDurable);
    expect(info.num_pending + info.num_ack_pending).toBe(0);

    const reasons: Record<string, number> = {};
    const seqs = new Set<number>();
    const dlqInfo = await jsm.streams.info(s.dlqStream);
    for (let seq = dlqInfo.state.first_seq; seq <= dlqInfo.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(s.dlqStream, { seq });
      const text = new TextDecoder().decode(m!.data);
      expect(text.includes(PLATE), 'clear plate in the DLQ').toBe(false);
      const dl = JSON.parse(text) as DeadLetter;
      expect(['invalid_json', 'invalid_event', 'unknown_crossing', 'too_late', 'event_id_conflict', 'invalid_record', 'wrong_subject']).toContain(dl.reason);
      expect(dl.issues.length).toBeGreaterThan(0);
      expect(dl.deliveryCount).toBe(1); // poison is not retried
      seqs.add(dl.seq);
      reasons[dl.reason] = (reasons[dl.reason] ?? 0) + 1;
    }
    expect(seqs.size).toBe(sent.length); // every message has its entries (a batch one per event)

    // the state = exactly the two valid events: equal to a store that got only those (garbage changed nothing)
    const ids = await redis.zrange(`${root}:{korday}:ids`, '0', '-1');
    expect(ids.sort()).toEqual(['after-garbage', 'seed-1']);
    const refPrefix = uniquePrefix();
    const ref = createQueueStore({ redis, prefix: refPrefix });
    for (const ev of [valid('seed-1'), valid('after-garbage', 30_000)]) {
      const res = validateEvent({ ...ev, occurredAt: validTimes.get(ev.eventId) }, { catalogue });
      if (!res.ok) throw new Error('fixture');
      await ref.applyEvent(pseudonymiseEvent(res.event as KezekEvent & { vehicleRef?: string }, KEY));
    }
    expect(await eventState(redis, prefix)).toEqual(await eventState(redis, refPrefix));
    const after = await dumpKeys(redis, root);
    const keysOfOtherCrossings = (d: Record<string, unknown>) => Object.keys(d).filter((k) => !k.includes('{korday}')).sort();
    expect(keysOfOtherCrossings(after)).toEqual(keysOfOtherCrossings(before));
    const stats = estimator.stats();
    expect(stats.deadLettered).toBe(expected);
    console.log(`[fuzz:consumer] generated=${cases.length} published=${sent.length} deadLettered=${stats.deadLettered} reasons=${JSON.stringify(reasons)} applied=${stats.applied} retried=${stats.retried} stateEqualsValidOnlyReference=true`);
  });
});
