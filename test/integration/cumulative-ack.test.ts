/**
 * Cumulative acks (AckPolicy.All, services/estimator/acks.ts) against a real nats-server and redis-server: the
 * consumer's ack floor never passes an event whose handling failed until a redelivery of it is applied; a consumer
 * left with unacked deliveries (a dead process), an older explicit-ack consumer, and a rewind asked for after a
 * lost delivery (here: a restart of the delivery sequence under a running estimator) and an event that failed on its
 * last allowed delivery are each re-created at the ack floor, so everything after the last ack is delivered again.
 */
import { describe, expect, it } from 'vitest';
import { AckPolicy, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import { KezekEventSchema, subjectForEvent, type KezekEvent } from '../../shared/events/index.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { createEstimator, type Estimator } from '../../services/estimator/estimator.ts';
import { CONSUMER_DEFAULTS, deleteConsumer, durableName, ensureConsumer } from '../../services/estimator/consumer.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { estimatorTestEnv, TEST_PSEUDONYM_KEY as KEY } from '../helpers/estimator-env.ts';
import { until } from '../helpers/until.ts';

const MIN = 60_000;
const Q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' } as const;
const logger = createLogger({ service: 'cumulative-ack-test', level: 'silent', pretty: false });
const catalogue = loadCatalogue();
const { cleanups, setup } = estimatorTestEnv();

function arrivals(n: number, tag: string): KezekEvent[] {
  const t0 = Date.now() - 60 * MIN;
  return Array.from({ length: n }, (_, i) =>
    KezekEventSchema.parse({ eventId: `${tag}-${i}`, ...Q, type: 'vehicle.arrived', vehicleRef: `PLATE-${tag}-${i}`, occurredAt: new Date(t0 + i * MIN).toISOString() }),
  );
}

/**
 * Fetches n messages of a durable without settling them, then checks that it has nothing more to deliver. Asking
 * for exactly what is there returns at once: a fetch that waits for its expiry can fail with "heartbeats missed"
 * when the test suite loads the machine.
 */
async function fetchRaw(env: Awaited<ReturnType<typeof setup>>, durable: string, n: number, nothingLeft = true): Promise<JsMsg[]> {
  const c = await env.js.consumers.get(env.s.eventsStream, durable);
  const out: JsMsg[] = [];
  for await (const m of await c.fetch({ max_messages: n, expires: 10_000 })) out.push(m);
  if (nothingLeft) expect((await env.jsm.consumers.info(env.s.eventsStream, durable)).num_pending).toBe(0);
  return out;
}

const opts = (prefix: string) => ({ ...CONSUMER_DEFAULTS, prefix, ackWaitMs: 1000 });

type Env = Awaited<ReturnType<typeof setup>>;
/** Publishes the events in order (msgID = eventId); returns their stream sequences. */
async function publishAll(env: Env, events: readonly KezekEvent[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const e of events) seqs.push((await env.js.publish(subjectForEvent(env.s, e), JSON.stringify(e), { msgID: e.eventId })).seq);
  return seqs;
}
/** The store as a finished rebuild leaves it: the estimator consumes (no replay from the start). */
const markInitialised = (env: Env) => createQueueStore({ redis: env.redis, prefix: env.prefix }).markInitialised();
/** The single consumer's kept ack floor in the env's Redis, as the estimator keeps it. */
const floorKeeper = (env: Env) => createQueueStore({ redis: env.redis, prefix: env.prefix }).consumerFloor();
/** An estimator on the env's servers and prefix, stopped after the test. */
function estimatorOn(env: Env, opts: Partial<Parameters<typeof createEstimator>[0]> = {}): Estimator {
  const est = createEstimator({ nc: env.nc, redis: env.redis, catalogue, prefix: env.prefix, logger, pseudonymKey: KEY, ...opts });
  cleanups.push(() => est.stop());
  return est;
}
/** env.jsm whose consumers.add fails: a process that dies between deleting a consumer and adding it again. */
function dyingOnAdd(env: Env): Env['jsm'] {
  const consumers = Object.create(env.jsm.consumers) as Env['jsm']['consumers'];
  consumers.add = () => Promise.reject(new Error('process died'));
  const jsm = Object.create(env.jsm) as Env['jsm'];
  Object.defineProperty(jsm, 'consumers', { value: consumers });
  return jsm;
}

describe('cumulative acks', () => {
  it('the ack floor stays below an event whose handling failed until its redelivery is applied', async () => {
    const env = await setup();
    const events = arrivals(12, 'hold');
    const seqs = await publishAll(env, events);
    const failSeq = seqs[4]!;
    await markInitialised(env);
    let failed = 0;
    const est = estimatorOn(env, {
      consumer: { ackWaitMs: 3000, maxDeliver: 5 },
      beforeSettle: (m) => {
        if (m.seq === failSeq && m.info.deliveryCount === 1) {
          failed += 1;
          throw new Error('handling failed after the Lua call');
        }
      },
    });
    await est.start();
    // the cumulative ack lands asynchronously: wait for the floor to reach the failed event, then check it held there
    const held = await until('every other event settled and acked up to the failed one', async () => {
      if (failed !== 1 || est.stats().applied < 11) return undefined;
      const info = await env.jsm.consumers.info(env.s.eventsStream, env.s.estimatorDurable);
      return info.ack_floor.stream_seq >= failSeq - 1 ? info : undefined;
    });
    expect(held.ack_floor.stream_seq).toBe(failSeq - 1);
    expect(held.num_ack_pending).toBe(events.length - (failSeq - 1));
    // ack_wait later the server delivers every unacked one again (the failed one and the held ones after it); each
    // is a duplicate now (the failed one's Lua call had run), and one cumulative ack passes them all
    const heldBack = events.length - (failSeq - 1);
    await until('the redeliveries settled and everything acked', async () => {
      const info = await env.jsm.consumers.info(env.s.eventsStream, env.s.estimatorDurable);
      return est.stats().duplicates === heldBack && info.num_ack_pending === 0 && info.ack_floor.stream_seq === seqs.at(-1)!;
    });
    expect(est.stats()).toMatchObject({ applied: 11, duplicates: heldBack, deadLettered: 0 });
    const window = await est.store.readWindow(Q, Date.now(), 120 * MIN);
    expect(window.records.filter((r) => r.kind === 'A')).toHaveLength(events.length);
  });

  it('an event that fails on its last allowed delivery is not stranded: the consumer is re-created at its ack floor and delivers it again', async () => {
    const env = await setup();
    const events = arrivals(8, 'strand');
    const seqs = await publishAll(env, events);
    const failSeq = seqs[3]!;
    await markInitialised(env);
    const failedDeliveries: number[] = [];
    const est = estimatorOn(env, {
      consumer: { ackWaitMs: 1000, maxDeliver: 2 },
      fetchExpiresMs: 1000,
      // its handling fails on both deliveries the consumer allows (as when the dead-letter publish fails too); the
      // server then never delivers it again on its own
      beforeSettle: (m) => {
        if (m.seq === failSeq && failedDeliveries.length < 2) {
          failedDeliveries.push(m.info.deliveryCount);
          throw new Error('handling failed after the Lua call');
        }
      },
    });
    const durable = durableName(env.prefix);
    const createdFirst = async () => (await env.jsm.consumers.info(env.s.eventsStream, durable)).created;
    await est.start();
    const created = await createdFirst();
    await until('the failed event delivered again after a re-creation, and everything acked', async () => {
      const info = await env.jsm.consumers.info(env.s.eventsStream, durable); // throws mid re-creation: until tries again
      return info.num_ack_pending === 0 && info.num_pending === 0 && info.ack_floor.stream_seq === seqs.at(-1)! && info.created !== created;
    }, 20_000);
    expect(failedDeliveries).toEqual([1, 2]);
    expect(est.stats().strandedRewinds).toBe(1);
    expect(est.stats().deadLettered).toBe(0);
    const window = await est.store.readWindow(Q, Date.now(), 120 * MIN);
    expect(window.records.filter((r) => r.kind === 'A')).toHaveLength(events.length);
  });

  it('a restart of the delivery sequence (the consumer re-created under the estimator) stops the acks and re-creates it at its ack floor', async () => {
    const env = await setup();
    const events = arrivals(15, 'lost');
    await publishAll(env, events.slice(0, 10));
    await markInitialised(env);
    const est = estimatorOn(env, { consumer: { ackWaitMs: 30_000, maxDeliver: 5 }, fetchExpiresMs: 1000 });
    await est.start();
    await until('the first ten applied and acked', async () => est.stats().applied === 10 && (await env.jsm.consumers.info(env.s.eventsStream, env.s.estimatorDurable)).ack_floor.stream_seq === 10);
    // someone else re-creates the consumer at sequence 6: its delivery sequence starts again at 1, which the
    // estimator cannot tell from deliveries lost on the way
    const durable = durableName(env.prefix);
    const cfg = (await env.jsm.consumers.info(env.s.eventsStream, durable)).config;
    await env.jsm.consumers.delete(env.s.eventsStream, durable);
    await env.jsm.consumers.add(env.s.eventsStream, { ...cfg, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: 6 });
    const createdByOther = (await env.jsm.consumers.info(env.s.eventsStream, durable)).created;
    await publishAll(env, events.slice(10));
    await until('every event applied, the redelivered ones as duplicates, and everything acked', async () => {
      const info = await env.jsm.consumers.info(env.s.eventsStream, durable); // throws mid re-creation: until tries again
      return est.stats().applied === 15 && info.num_ack_pending === 0 && info.ack_floor.stream_seq === 15 && info.created !== createdByOther;
    }, 20_000);
    expect(est.stats().duplicates).toBeGreaterThanOrEqual(5); // 6-10 again, and whatever the first pass delivered before the rewind
    const window = await est.store.readWindow(Q, Date.now(), 120 * MIN);
    expect(window.records.filter((r) => r.kind === 'A')).toHaveLength(events.length);
  });

  it('a consumer left with unacked deliveries is re-created at its ack floor, and delivers from there at once', async () => {
    const env = await setup();
    const events = arrivals(6, 'dead');
    await publishAll(env, events);
    const durable = durableName(env.prefix);
    expect((await ensureConsumer(env.jsm, opts(env.prefix))).next).toBe(1);
    // a process receives five, acks the first two cumulatively, and dies
    const got = await fetchRaw(env, durable, 5, false);
    expect(got.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    got[1]!.ack();
    await env.nc.flush();
    const before = await until('the ack to land', async () => {
      const i = await env.jsm.consumers.info(env.s.eventsStream, durable);
      return i.ack_floor.stream_seq === 2 ? i : undefined;
    });
    expect(before.num_ack_pending).toBe(3);
    // the next process: re-created, its next message is delivery 1 of stream sequence 3 (no ack_wait to sit out)
    expect((await ensureConsumer(env.jsm, opts(env.prefix))).next).toBe(1);
    const after = await env.jsm.consumers.info(env.s.eventsStream, durable);
    expect(after.created).not.toBe(before.created);
    expect(after.config.ack_policy).toBe(AckPolicy.All);
    const again = await fetchRaw(env, durable, 4);
    expect(again.map((m) => [m.seq, m.info.deliverySequence])).toEqual([[3, 1], [4, 2], [5, 3], [6, 4]]);
  });

  it('a consumer with nothing unacked is kept, and its next delivery sequence is reported', async () => {
    const env = await setup();
    await publishAll(env, arrivals(3, 'keep'));
    const durable = durableName(env.prefix);
    await ensureConsumer(env.jsm, opts(env.prefix));
    const got = await fetchRaw(env, durable, 3);
    got[2]!.ack();
    await until('the ack to land', async () => (await env.jsm.consumers.info(env.s.eventsStream, durable)).num_ack_pending === 0);
    const before = await env.jsm.consumers.info(env.s.eventsStream, durable);
    expect((await ensureConsumer(env.jsm, opts(env.prefix))).next).toBe(4);
    expect((await env.jsm.consumers.info(env.s.eventsStream, durable)).created).toBe(before.created);
    // asked to rewind (a delivery was lost): re-created at the floor, which delivers nothing already acked
    expect((await ensureConsumer(env.jsm, opts(env.prefix), undefined, { rewind: true })).next).toBe(1);
    const after = await env.jsm.consumers.info(env.s.eventsStream, durable);
    expect(after.created).not.toBe(before.created);
    expect(after.num_pending).toBe(0);
  });

  it("an older Kezek's explicit-ack consumer becomes a cumulative one at its ack floor", async () => {
    const env = await setup();
    await publishAll(env, arrivals(4, 'old'));
    const durable = durableName(env.prefix);
    await env.jsm.consumers.add(env.s.eventsStream, { durable_name: durable, ack_policy: AckPolicy.Explicit });
    const got = await fetchRaw(env, durable, 4);
    got[0]!.ack();
    got[1]!.ack();
    got[3]!.ack(); // the third is left unacked
    await until('the acks to land', async () => (await env.jsm.consumers.info(env.s.eventsStream, durable)).ack_floor.stream_seq === 2);
    expect((await ensureConsumer(env.jsm, opts(env.prefix))).next).toBe(1);
    const info = await env.jsm.consumers.info(env.s.eventsStream, durable);
    expect(info.config.ack_policy).toBe(AckPolicy.All);
    expect((await fetchRaw(env, durable, 2)).map((m) => m.seq)).toEqual([3, 4]);
  });

  it('a re-creation interrupted between the delete and the add resumes at the kept ack floor, not at the start of the stream', async () => {
    const env = await setup();
    await publishAll(env, arrivals(6, 'crash'));
    const durable = durableName(env.prefix);
    const floor = floorKeeper(env);
    await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor });
    const got = await fetchRaw(env, durable, 5, false);
    got[2]!.ack(); // cumulative: 1-3
    await env.nc.flush();
    await until('the ack to land', async () => (await env.jsm.consumers.info(env.s.eventsStream, durable)).ack_floor.stream_seq === 3);
    // a rewind (unacked deliveries left) whose process dies after the delete
    await expect(ensureConsumer(dyingOnAdd(env), opts(env.prefix), undefined, { floor })).rejects.toThrow('process died');
    await expect(env.jsm.consumers.info(env.s.eventsStream, durable)).rejects.toThrow(/not found/i);
    const streamCreated = (await env.jsm.streams.info(env.s.eventsStream)).created;
    expect(await floor.read()).toEqual({ streamSeq: 3, streamCreated });
    // the next start finds no consumer and the kept floor: created after 3, so 1-3 are not delivered again
    expect(await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor })).toEqual({ next: 1, resumedAfter: 3 });
    expect(await floor.read()).toBeUndefined();
    const again = await fetchRaw(env, durable, 3);
    expect(again.map((m) => m.seq)).toEqual([4, 5, 6]);
    // a floor left beside an existing consumer (a crash after the add, before the drop) is dropped by the next
    // start, which keeps the consumer's own position
    again[2]!.ack();
    await env.nc.flush();
    await until('the ack to land', async () => (await env.jsm.consumers.info(env.s.eventsStream, durable)).num_ack_pending === 0);
    await floor.keep({ streamSeq: 3, streamCreated });
    expect(await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor })).toEqual({ next: 4 });
    expect(await floor.read()).toBeUndefined();
  });

  it('deleting a consumer for a rebuild drops its kept floor first, so the next one starts from the first event', async () => {
    const env = await setup();
    await publishAll(env, arrivals(4, 'drop'));
    const floor = floorKeeper(env);
    await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor });
    await floor.keep({ streamSeq: 3, streamCreated: (await env.jsm.streams.info(env.s.eventsStream)).created }); // left by an interrupted re-creation
    await deleteConsumer(env.jsm, env.prefix, undefined, floor);
    expect(await floor.read()).toBeUndefined();
    expect(await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor })).toEqual({ next: 1 });
    expect((await fetchRaw(env, durableName(env.prefix), 4)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('the estimator creates a missing consumer at the floor kept in its Redis, and a rebuild ignores such a floor', async () => {
    const env = await setup();
    const events = arrivals(10, 'est-floor');
    await publishAll(env, events);
    await markInitialised(env);
    const store = createQueueStore({ redis: env.redis, prefix: env.prefix });
    // as a re-creation interrupted after the delete leaves it (events 1-7 were applied then; here they never were,
    // which makes visible what was delivered)
    const floor7 = { streamSeq: 7, streamCreated: (await env.jsm.streams.info(env.s.eventsStream)).created };
    await store.consumerFloor().keep(floor7);
    const est = estimatorOn(env);
    await est.start();
    await until('the events after the floor applied', async () => est.stats().applied === 3);
    expect(est.stats()).toMatchObject({ received: 3, floorResumes: 1, rebuilds: 0 });
    expect(await store.consumerFloor().read()).toBeUndefined();
    expect((await est.store.readWindow(Q, Date.now(), 120 * MIN)).records.filter((r) => r.kind === 'A')).toHaveLength(3);
    await est.stop();

    // a rebuild (the store's data lost, or asked for) starts from the first event whatever floor was kept
    await store.consumerFloor().keep(floor7);
    await env.redis.del(store.keys.initialised);
    const again = estimatorOn(env);
    await again.start();
    await until('the rebuild to re-apply the stream', async () => again.stats().received >= events.length && again.stats().rebuilds === 1);
    expect(again.stats()).toMatchObject({ floorResumes: 0, applied: 7, duplicates: 3 });
    expect(await store.consumerFloor().read()).toBeUndefined();
    expect((await again.store.readWindow(Q, Date.now(), 120 * MIN)).records.filter((r) => r.kind === 'A')).toHaveLength(10);
  });

  it('a floor kept for an earlier stream of the same name (deleted and made again) is ignored: the consumer starts from the first event', async () => {
    const env = await setup();
    await publishAll(env, arrivals(4, 'stale'));
    const floor = floorKeeper(env);
    const stale = { streamSeq: 3, streamCreated: '2026-01-01T00:00:00.000000000Z' };
    await floor.keep(stale);
    expect(await ensureConsumer(env.jsm, opts(env.prefix), undefined, { floor })).toEqual({ next: 1, staleFloor: stale });
    expect(await floor.read()).toBeUndefined();
    expect((await fetchRaw(env, durableName(env.prefix), 4)).map((m) => m.seq)).toEqual([1, 2, 3, 4]);
  });

  it('a kept floor that is not one (hand-edited, another version) reads as none', async () => {
    const env = await setup();
    const store = createQueueStore({ redis: env.redis, prefix: env.prefix });
    for (const bad of ['7', '{"streamSeq":-1,"streamCreated":"x"}', '{"streamSeq":1.5,"streamCreated":"x"}', '{"streamSeq":7}', 'not json']) {
      await env.redis.set(store.keys.consumerFloor(), bad);
      expect(await store.consumerFloor().read()).toBeUndefined();
    }
    await store.consumerFloor('korday').keep({ streamSeq: 9, streamCreated: 'c' });
    expect(await store.consumerFloor('korday').read()).toEqual({ streamSeq: 9, streamCreated: 'c' });
    expect(await store.consumerFloor().read()).toBeUndefined(); // the single consumer's key is another
    await expect(store.consumerFloor().keep({ streamSeq: -2, streamCreated: 'c' })).rejects.toThrow(RangeError);
  });
});
