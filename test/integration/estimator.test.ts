/**
 * The estimator end to end against real nats-server and redis-server (shared by the run, isolated by a unique
 * prefix): events on the stream -> Redis state -> estimates stored and published; poison -> DLQ; crash before ack
 * -> redelivery without double counting; Redis data loss -> rebuild from the stream.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { KezekEventSchema, MAX_EVENTS_PER_MESSAGE, subjectForEvent, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { pino } from 'pino';
import { QueueEstimateSchema, type QueueEstimate } from '../../shared/estimates.ts';
import { createEstimator, type Estimator, type EstimatorDeps } from '../../services/estimator/estimator.ts';
import type { DeadLetter } from '../../services/estimator/messages.ts';
import { listDeadLetters, planRedrive, redrive, scanDeadLetters } from '../../services/dlq/dlq.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { computeEstimate, MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import { startRedisServer } from '../../shared/local-servers.ts';
import { DLQ_MAX_AGE_MS, ensureStreams } from '../../shared/nats.ts';
import { natsUrl, tempDir } from '../helpers/env.ts';
import { estimatorTestEnv, TEST_PSEUDONYM_KEY as KEY } from '../helpers/estimator-env.ts';
import { until } from '../helpers/until.ts';

const MIN = 60_000;
const Q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' } as const;
const logger = createLogger({ service: 'estimator-test', level: 'silent', pretty: false });

const catalogue = loadCatalogue();
const { cleanups, setup } = estimatorTestEnv();

function makeEstimator(env: { prefix: string; nc: NatsConnection; redis: Redis }, extra: Partial<EstimatorDeps> = {}): Estimator {
  const est = createEstimator({
    nc: env.nc,
    redis: env.redis,
    catalogue,
    prefix: env.prefix,
    logger,
    pseudonymKey: KEY,
    consumer: { ackWaitMs: 1000, maxDeliver: 5 },
    ...extra,
  });
  cleanups.push(() => est.stop());
  return est;
}

/** What the model says for the queue's stored window as of tMs (the estimator must publish exactly this). */
async function modelSays(store: QueueStore, tMs: number): Promise<QueueEstimate> {
  const window = await store.readWindow(Q, tMs, MODEL_LOOKBACK_MS);
  return computeEstimate(window, { profile: catalogue.profile(Q.crossingId, Q.vehicleClass)!, localZone: catalogue.localZone(Q.crossingId)!, staleAfterMs: 15 * MIN, nowMs: 0, revision: 0 });
}

let n = 0;
function ev(type: KezekEvent['type'], tMs: number, extra: Record<string, unknown> = {}): KezekEvent {
  n += 1;
  return KezekEventSchema.parse({ eventId: `est-${n}`, ...Q, occurredAt: new Date(tMs).toISOString(), type, ...extra });
}

async function publishAll(js: ReturnType<typeof jetstream>, prefix: string, events: KezekEvent[]) {
  for (const e of events) await js.publish(subjectForEvent(subjects(prefix), e), JSON.stringify(e), { msgID: e.eventId });
}

/** Every dead letter published on the env's DLQ subjects from now on (unsubscribed at cleanup). */
function collectDeadLetters(env: { nc: NatsConnection; s: ReturnType<typeof subjects> }): DeadLetter[] {
  const dead: DeadLetter[] = [];
  const sub = env.nc.subscribe(env.s.dlqAll);
  void (async () => {
    for await (const m of sub) dead.push(m.json<DeadLetter>());
  })();
  cleanups.push(async () => sub.unsubscribe());
  return dead;
}

function scenario(t0: number): KezekEvent[] {
  const events = [ev('lanes.changed', t0, { lanesOpen: 2 }), ev('queue.observed', t0, { queueLength: 4 })];
  for (let i = 0; i < 6; i++) events.push(ev('vehicle.arrived', t0 + (i + 1) * MIN, { vehicleRef: `PLATE-${i}` }));
  events.push(ev('vehicle.service_started', t0 + 8 * MIN, { vehicleRef: 'PLATE-0' }));
  return events;
}

describe('estimator', () => {
  it('applies events from the stream, stores the estimate and publishes it on the queue subject', async () => {
    const env = await setup();
    const t0 = Date.now() - 2 * 60 * MIN;
    const events = scenario(t0);
    const published: QueueEstimate[] = [];
    const sub = env.nc.subscribe(env.s.estimatesFor(Q.crossingId, Q.direction, Q.vehicleClass));
    void (async () => {
      for await (const m of sub) published.push(QueueEstimateSchema.parse(m.json()));
    })();
    cleanups.push(async () => sub.unsubscribe());
    await publishAll(env.js, env.prefix, events);
    const est = makeEstimator(env);
    await est.start();
    const last = await until('estimate of the newest event', async () => published.find((p) => p.lastEventAt === new Date(t0 + 8 * MIN).toISOString()));
    const window = await est.store.readWindow(Q, t0 + 8 * MIN, MODEL_LOOKBACK_MS);
    expect(window.records.filter((r) => r.kind === 'A')).toHaveLength(6);
    expect(window.records.find((r) => r.kind === 'O')?.value).toBe(4);
    const expected = await modelSays(est.store, t0 + 8 * MIN);
    expect(last).toMatchObject({ queueLength: expected.queueLength, waitSeconds: expected.waitSeconds, lanesOpen: 2, method: expected.method });
    expect(last.method).not.toBe('prior');
    const stored = await est.store.readEstimate(Q);
    expect(stored).toMatchObject({ queueLength: expected.queueLength, revision: last.revision, asOf: last.asOf });
    expect(await est.store.isInitialised()).toBe(true);
    // the other queues got a cold-start estimate
    const other = await est.store.readEstimate({ ...Q, vehicleClass: 'truck' });
    expect(other?.method).toBe('prior');
    // vehicle refs are stored pseudonymised only
    const dump = JSON.stringify(await env.redis.zrange(est.store.keys.queue(Q).records.A, '0', '-1'));
    expect(dump).not.toContain('PLATE');
    expect(dump).toContain('ps1_');
    expect(est.stats()).toMatchObject({ applied: events.length, deadLettered: 0 });
  });

  it('reports its backlog while a burst is applied and 0 once everything is (refreshes wait on it)', async () => {
    const env = await setup();
    const first = makeEstimator(env);
    await first.start(); // initialises the store, so the next start consumes normally (no boot rebuild)
    await first.stop();
    const est = makeEstimator(env);
    const t0 = Date.now() - 3 * 60 * MIN;
    const burst = Array.from({ length: 1500 }, (_, i) => ev('vehicle.arrived', t0 + i * 1000, { vehicleRef: `BURST-${i}` }));
    // in the stream before the estimator starts: its first fetch is 512 of 1500, so it is behind from the start
    await Promise.all(burst.map((e) => publishAll(env.js, env.prefix, [e])));
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, est.stats().backlog)), 2);
    try {
      await est.start();
      await until('the burst applied', async () => est.stats().applied >= burst.length);
    } finally {
      clearInterval(sampler);
    }
    expect(peak).toBeGreaterThan(256); // at least one whole fetch was still waiting at some point
    await until('every touched queue refreshed', async () => est.stats().refreshPending === 0);
    expect(est.stats().backlog).toBe(0);
  });

  it('finishes its boot rebuild while a producer keeps publishing (a trickle never leaves a fetch empty)', async () => {
    const env = await setup();
    const t0 = Date.now() - 60 * MIN;
    await publishAll(env.js, env.prefix, scenario(t0));
    let publishing = true;
    let k = 0;
    const trickle = (async () => {
      while (publishing) {
        const e = ev('vehicle.arrived', t0 + 10 * MIN + k * 1000, { vehicleRef: `TRICKLE-${k}` });
        k += 1;
        await publishAll(env.js, env.prefix, [e]);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    cleanups.push(async () => {
      publishing = false;
      await trickle;
    });
    const est = makeEstimator(env);
    const started = Date.now();
    await est.start();
    await until('the store marked initialised', async () => est.store.isInitialised(), 8_000);
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(est.stats().rebuilds).toBe(1);
    publishing = false;
    await trickle;
    await until('the trickle applied too', async () => est.stats().applied + est.stats().duplicates >= 9 + k, 10_000);
  });

  it('dead-letters poison messages with a reason once and does not retry them', async () => {
    const env = await setup();
    const dead = collectDeadLetters(env);
    const est = makeEstimator(env);
    await est.start();
    const t = Date.now() - MIN;
    await env.js.publish(env.s.eventsFor('korday', 'KZ-KG'), '{"eventId": "broken", "vehicleRef": "SECRET-2"');
    await env.js.publish(env.s.eventsFor('nowhere'), JSON.stringify({ ...ev('vehicle.arrived', t, { vehicleRef: 'SECRET-3' }), crossingId: 'nowhere' }));
    await env.js.publish(env.s.eventsFor('korday', 'KZ-KG'), JSON.stringify({ ...ev('vehicle.arrived', t), occurredAt: new Date(Date.now() + 60 * MIN).toISOString() }));
    await until('three dead letters', async () => dead.length >= 3);
    const reasons = dead.map((d) => d.reason).sort();
    expect(reasons).toEqual(['invalid_event', 'invalid_json', 'unknown_crossing']);
    const unknown = dead.find((d) => d.reason === 'unknown_crossing')!;
    expect(unknown.issues[0]).toMatchObject({ path: 'crossingId' });
    expect(JSON.stringify(dead)).not.toContain('SECRET');
    expect(dead.find((d) => d.reason === 'invalid_event')!.issues.map((i) => i.path)).toContain('occurredAt');
    // terminated, not redelivered: nothing pending and each message seen once
    await new Promise((r) => setTimeout(r, 1500));
    const info = await (await jetstreamManager(env.nc)).consumers.info(env.s.eventsStream, env.s.estimatorDurable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
    expect(est.stats()).toMatchObject({ received: 3, deadLettered: 3 });
    const dlq = await (await jetstreamManager(env.nc)).streams.info(env.s.dlqStream);
    expect(dlq.state.messages).toBe(3);
  });

  it("dead-letters a lanes.changed above the class's lanesMax with the reason, and the queue keeps its lanes", async () => {
    const env = await setup();
    const dead = collectDeadLetters(env);
    const est = makeEstimator(env);
    await est.start();
    const t = Date.now() - 10 * MIN;
    // korday cars: at most 8 lanes per direction (seeds/crossings.json)
    const tooMany = ev('lanes.changed', t + MIN, { lanesOpen: 9 });
    await publishAll(env.js, env.prefix, [ev('lanes.changed', t, { lanesOpen: 3 }), tooMany]);
    await until('the impossible lane count dead-lettered', async () => dead.length >= 1 && est.stats().applied >= 1);
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ reason: 'invalid_event', payload: { eventId: tooMany.eventId }, issues: [{ path: 'lanesOpen', message: 'must be <= 8: korday has at most 8 car lanes per direction' }] });
    expect((await est.store.readEstimate(Q))?.lanesOpen).toBe(3);
  });

  it('publishes no wait figure, saying no lanes are open, when the lanes of an open queue drop to 0', async () => {
    const env = await setup();
    const published: QueueEstimate[] = [];
    const sub = env.nc.subscribe(env.s.estimatesFor(Q.crossingId, Q.direction, Q.vehicleClass));
    void (async () => {
      for await (const m of sub) published.push(QueueEstimateSchema.parse(m.json()));
    })();
    cleanups.push(async () => sub.unsubscribe());
    const t0 = Date.now() - 60 * MIN;
    const zeroAt = t0 + 10 * MIN;
    await publishAll(env.js, env.prefix, [...scenario(t0), ev('lanes.changed', zeroAt, { lanesOpen: 0 })]);
    const est = makeEstimator(env);
    await est.start();
    const last = await until('the estimate after the lanes closed', async () => published.find((p) => p.lastEventAt === new Date(zeroAt).toISOString()));
    expect(last).toMatchObject({ status: 'open', lanesOpen: 0, waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, method: 'closed-unknown-reopening', statusReason: 'no lanes open' });
    expect(last.queueLength).toBeGreaterThan(0);
    expect(last).toMatchObject(await modelSays(est.store, zeroAt).then(({ waitSeconds, method, statusReason }) => ({ waitSeconds, method, statusReason })));
  });

  it('a rebuild that meets a poison event again keeps its one dead letter (the DLQ de-duplicates for as long as it keeps letters)', async () => {
    const env = await setup();
    // a DLQ stream made by an older version, with the 2-minute duplicate window: the estimator's start upgrades it
    const old = await env.jsm.streams.info(env.s.dlqStream);
    await env.jsm.streams.update(env.s.dlqStream, { ...old.config, duplicate_window: nanos(2 * MIN) });
    const t = Date.now() - 30 * MIN;
    const good = ev('vehicle.arrived', t, { vehicleRef: 'PLATE-R1' });
    const bad = { ...ev('lanes.changed', t, { lanesOpen: 1 }), lanesOpen: -1 };
    await publishAll(env.js, env.prefix, [good, bad as unknown as KezekEvent]);
    const est = makeEstimator(env);
    await est.start();
    const cfg = (await env.jsm.streams.info(env.s.dlqStream)).config;
    expect(cfg.duplicate_window).toBe(nanos(DLQ_MAX_AGE_MS));
    expect(cfg.max_age).toBe(nanos(DLQ_MAX_AGE_MS));
    await until('the poison event dead-lettered', async () => est.stats().deadLettered >= 1 && est.stats().applied >= 1);
    expect((await env.jsm.streams.info(env.s.dlqStream)).state.messages).toBe(1);
    // within this test any window of a few seconds would de-duplicate; the config assertion above guards the 30 days
    const report = await est.rebuild('test');
    expect(report).toMatchObject({ events: 2, deadLettered: 1, deadLettersAlreadyStored: 1 });
    expect(est.stats()).toMatchObject({ deadLettered: 2, deadLettersAlreadyStored: 1 });
    expect((await env.jsm.streams.info(env.s.dlqStream)).state.messages).toBe(1);
  });

  it('an events stream deleted and made again numbers from 1 again: its poison events get letters of their own, not the old ones\' msgIDs', async () => {
    const env = await setup();
    const t = Date.now() - 30 * MIN;
    const first = { ...ev('lanes.changed', t, { lanesOpen: 1 }), lanesOpen: -1 };
    await publishAll(env.js, env.prefix, [first as unknown as KezekEvent]);
    const est = makeEstimator(env);
    await est.start();
    await until('the first poison event dead-lettered', async () => est.stats().deadLettered >= 1);
    await est.stop();
    await env.jsm.streams.delete(env.s.eventsStream);
    await ensureStreams(env.nc, { prefix: env.prefix });
    const second = { ...ev('lanes.changed', t, { lanesOpen: 1 }), lanesOpen: -2 };
    await publishAll(env.js, env.prefix, [second as unknown as KezekEvent]); // sequence 1 again
    const est2 = makeEstimator(env);
    await est2.start();
    await until('the second poison event dead-lettered', async () => est2.stats().deadLettered >= 1);
    expect(est2.stats()).toMatchObject({ deadLettered: 1, deadLettersAlreadyStored: 0 });
    const letters = await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix }), { limit: 0 });
    expect(letters.map((e) => (e.letter!.payload as { eventId: string }).eventId).sort()).toEqual([first.eventId, second.eventId].sort());
    const ids = await Promise.all(letters.map(async (e) => (await env.jsm.streams.getMessage(env.s.dlqStream, { seq: e.dlqSeq }))!.header.get('Nats-Msg-Id')));
    for (const id of ids) expect(id).toMatch(new RegExp(`^dlq:${env.s.eventsStream}:\\d{13}:1$`));
    expect(new Set(ids).size).toBe(2);
  });

  it('applies a batch message event by event: poison events are dead-lettered with their index, the others applied once', async () => {
    const env = await setup();
    const dead = collectDeadLetters(env);
    // 2 events in flight at most: the 5-event batch is admitted alone, and still whole
    const est = makeEstimator(env, { concurrency: 2 });
    await est.start();
    const t = Date.now() - 30 * MIN;
    const a1 = ev('vehicle.arrived', t, { vehicleRef: 'SECRET-B1' });
    const a2 = ev('vehicle.arrived', t + MIN, { vehicleRef: 'SECRET-B2' });
    const badLanes = { ...ev('lanes.changed', t, { lanesOpen: 1 }), lanesOpen: 'three' };
    const otherCrossing = KezekEventSchema.parse({ eventId: `est-other-${n}`, type: 'vehicle.arrived', crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car', occurredAt: new Date(t).toISOString() });
    const otherDirection = { ...ev('vehicle.arrived', t), direction: 'KG-KZ' };
    const batch = JSON.stringify([a1, badLanes, otherCrossing, a2, otherDirection]);
    const subject = env.s.eventsFor('korday', 'KZ-KG');
    await env.js.publish(subject, batch, { msgID: 'batch-1' });
    await env.js.publish(subject, '[]', { msgID: 'batch-empty' });
    // one event alone on another crossing's subject: refused too (a partitioned consumer would apply it for korday)
    const stray = KezekEventSchema.parse({ ...otherCrossing, eventId: `est-stray-${n}` });
    await env.js.publish(subject, JSON.stringify(stray), { msgID: stray.eventId });
    await until('five dead letters', async () => dead.length >= 5 && est.stats().applied >= 2);
    expect(est.stats()).toMatchObject({ received: 3, receivedEvents: 7, applied: 2, duplicates: 0, deadLettered: 5 });
    const strayLetter = dead.find((d) => (d.payload as { eventId?: string }).eventId === stray.eventId)!;
    expect(strayLetter).toMatchObject({ reason: 'wrong_subject', subject });
    expect(strayLetter).not.toHaveProperty('index');
    const byIndex = new Map(dead.filter((d) => d !== strayLetter).map((d) => [d.index ?? -1, d]));
    expect(byIndex.get(1)).toMatchObject({ reason: 'invalid_event', subject, payload: { eventId: badLanes.eventId } });
    expect(byIndex.get(1)!.issues.map((i) => i.path)).toContain('lanesOpen');
    expect(byIndex.get(2)).toMatchObject({ reason: 'wrong_subject', issues: [{ path: 'crossingId', message: expect.stringMatching(/belongs on .*zhibek-zholy\.KZ-UZ.*published on .*korday\.KZ-KG/) }] });
    expect(byIndex.get(4)).toMatchObject({ reason: 'wrong_subject', issues: [{ path: 'direction' }], payload: { eventId: otherDirection.eventId } });
    expect(byIndex.get(-1)).toMatchObject({ reason: 'invalid_event', issues: [{ message: expect.stringMatching(/1 to 100 events \(got 0\)/) }] });
    const window = await est.store.readWindow(Q, t + MIN, 60 * MIN);
    expect(window.records.filter((r) => r.kind === 'A').map((r) => r.t)).toEqual([t, t + MIN]);
    expect(await est.store.readWindow({ crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car' }, t, 60 * MIN).catch(() => null)).toSatisfy(
      (w: { records: unknown[] } | null) => w === null || w.records.length === 0,
    );
    // the same events again in another message (a producer's re-send): applied once, counted as duplicates
    await env.js.publish(subject, JSON.stringify([a2, a1]), { msgID: 'batch-2' });
    await until('the re-sent batch settled', async () => est.stats().duplicates >= 2);
    expect(est.stats()).toMatchObject({ received: 4, applied: 2, duplicates: 2, deadLettered: 5 });
    const hist = await est.store.readHistory(Q, t - 15 * MIN, t + 15 * MIN, 15 * MIN);
    expect(hist.reduce((sum, p) => sum + p.arrivals, 0)).toBe(2);
    expect(JSON.stringify(dead)).not.toContain('SECRET');
    await new Promise((r) => setTimeout(r, 500));
    const info = await (await jetstreamManager(env.nc)).consumers.info(env.s.eventsStream, env.s.estimatorDurable);
    expect(info.num_ack_pending).toBe(0);
    expect(info.num_redelivered).toBe(0);
  });

  it('an oversized batch message (101 events) is dead-lettered event by event, applied once redriven with the DLQ tool', async () => {
    const env = await setup();
    const est = makeEstimator(env);
    await est.start();
    const t = Date.now() - 40 * MIN;
    const events = Array.from({ length: MAX_EVENTS_PER_MESSAGE + 1 }, (_, i) => ev('vehicle.arrived', t + i * 1000, { vehicleRef: `SECRET-O${i}` }));
    await env.js.publish(env.s.eventsFor('korday', 'KZ-KG'), JSON.stringify(events), { msgID: 'batch-oversized' });
    await until('every event dead-lettered', async () => est.stats().deadLettered >= events.length);
    expect(est.stats()).toMatchObject({ received: 1, receivedEvents: 101, applied: 0, deadLettered: 101 });
    const letters = await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix }), { limit: 0 });
    expect(letters.map((e) => e.letter!.index).sort((a, b) => a! - b!)).toEqual(events.map((_, i) => i));
    expect(letters.every((e) => e.letter!.reason === 'invalid_event' && /held 101 events, at most 100/.test(e.letter!.issues[0]!.message))).toBe(true);
    expect(JSON.stringify(letters.map((e) => e.letter))).not.toContain('SECRET'); // refs pseudonymised in the letters too
    const window0 = await est.store.readWindow(Q, t + 200 * 1000, 60 * MIN);
    expect(window0.records.filter((r) => r.kind === 'A')).toHaveLength(0);
    // the operator redrives them (npm run dlq -- redrive): each event goes to its own subject as a message of its own
    const outcomes = await redrive(env.js, planRedrive(env.prefix, letters), { prefix: env.prefix });
    expect(outcomes.filter((o) => o.status === 'published')).toHaveLength(101);
    await until('the redriven events applied', async () => est.stats().applied >= events.length);
    const window = await est.store.readWindow(Q, t + 200 * 1000, 60 * MIN);
    expect(window.records.filter((r) => r.kind === 'A').map((r) => r.t)).toEqual(events.map((_, i) => t + i * 1000));
    expect(est.stats()).toMatchObject({ applied: 101, deadLettered: 101, duplicates: 0 });
  });

  it('logs the first 10 dead letters of a minute one by one and sums up the rest by reason (a bad replay does not flood the log)', async () => {
    const env = await setup();
    const lines: { msg: string; reason?: string; more?: number; byReason?: Record<string, number> }[] = [];
    const captured = pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const est = makeEstimator(env, { logger: captured });
    await est.start();
    for (let i = 0; i < 25; i++) await env.js.publish(env.s.eventsFor('korday', 'KZ-KG'), `{"eventId": "broken-${i}"`);
    await until('25 dead letters', async () => est.stats().deadLettered >= 25);
    await est.stop(); // sums up what was held back
    const one = lines.filter((l) => l.msg === 'event dead-lettered');
    expect(one).toHaveLength(10);
    expect(one.every((l) => l.reason === 'invalid_json')).toBe(true);
    const summary = lines.filter((l) => l.msg.includes('more events dead-lettered'));
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ more: 15, byReason: { invalid_json: 15 } });
  });

  it('when the process dies after the Lua call but before the ack, the redelivery is not counted twice', async () => {
    const env = await setup();
    const t0 = Date.now() - 60 * MIN;
    const events = scenario(t0);
    await publishAll(env.js, env.prefix, events);
    // a store that was initialised before: the durable consumer's redelivery (not a rebuild) brings the events back
    await createQueueStore({ redis: env.redis, prefix: env.prefix }).markInitialised();
    let seen = 0;
    const crashing = makeEstimator(env, {
      beforeSettle: () => {
        seen += 1;
        throw new Error('simulated crash before ack');
      },
    });
    await crashing.start();
    await until('every event applied by the crashing estimator', async () => seen >= events.length);
    await crashing.stop();
    const windowBefore = await crashing.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN);
    expect(windowBefore.records.filter((r) => r.kind === 'A')).toHaveLength(6);

    const nc2 = await connect({ servers: natsUrl() });
    cleanups.push(() => nc2.drain());
    const survivor = makeEstimator({ ...env, nc: nc2 });
    await survivor.start();
    await until('redeliveries acked as duplicates', async () => survivor.stats().duplicates >= events.length, 20_000);
    expect(survivor.stats().applied).toBe(0);
    expect(await survivor.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN)).toEqual(windowBefore);
    const hist = await survivor.store.readHistory(Q, t0 - 5 * MIN, t0 + 10 * MIN, 15 * MIN);
    expect(hist.reduce((a, p) => a + p.arrivals, 0)).toBe(6);
    const expected = await modelSays(survivor.store, t0 + 8 * MIN);
    await until('estimate refreshed after the redeliveries', async () => (await survivor.store.readEstimate(Q))?.asOf === expected.asOf);
    expect(await survivor.store.readEstimate(Q)).toMatchObject({ queueLength: expected.queueLength, waitSeconds: expected.waitSeconds });
  });

  it('when Redis loses its data while running, the estimator rebuilds from the stream and resumes', async () => {
    const env = await setup();
    const t0 = Date.now() - 60 * MIN;
    const events = scenario(t0);
    await publishAll(env.js, env.prefix, events);
    const est = makeEstimator(env);
    await est.start(); // first boot: no marker, so a rebuild (#1) replays the stream
    await until('all applied', async () => est.stats().applied >= events.length);
    const before = await est.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN);
    await until('the estimate of the newest event', async () => (await est.store.readEstimate(Q))?.asOf === new Date(t0 + 8 * MIN).toISOString());
    const revisionBefore = (await est.store.readEstimate(Q))!.revision;
    // simulate an empty Redis: delete every key of this prefix (never FLUSHALL on the shared server)
    const keys = await env.redis.keys(`${env.prefix}:*`);
    await env.redis.del(...keys);
    await until('rebuild and the marker back', async () => est.stats().rebuilds >= 2 && (await est.store.isInitialised()));
    // revisions continue above what subscribers saw before the loss
    expect((await est.store.readEstimate(Q))!.revision).toBeGreaterThan(revisionBefore);
    expect(await est.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN)).toEqual(before);
    expect(await est.store.readEstimate(Q)).toMatchObject({ queueLength: (await modelSays(est.store, t0 + 8 * MIN)).queueLength, asOf: new Date(t0 + 8 * MIN).toISOString() });
    // and it keeps consuming afterwards
    await publishAll(env.js, env.prefix, [ev('vehicle.arrived', t0 + 9 * MIN, { vehicleRef: 'PLATE-X' })]);
    await until('new event after the rebuild', async () => (await est.store.readEstimate(Q))?.asOf === new Date(t0 + 9 * MIN).toISOString());
    // an explicit rebuild while running re-applies the whole stream without changing the state
    const settled = await est.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN);
    const report = await est.rebuild('test');
    expect(report.events).toBe(events.length + 1);
    expect(await est.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN)).toEqual(settled);
  });

  it('a crossing-wide status updates and publishes the estimate of every queue of the crossing', async () => {
    const env = await setup();
    const est = makeEstimator(env);
    await est.start();
    const t = Date.now() - 10 * MIN;
    const closed = KezekEventSchema.parse({ eventId: 'close-all', crossingId: 'korday', type: 'crossing.status', status: 'closed', occurredAt: new Date(t).toISOString(), until: new Date(t + 3 * 60 * MIN).toISOString(), reason: 'reconstruction' });
    await publishAll(env.js, env.prefix, [closed]);
    const queues = catalogue.queues().filter((q) => q.crossingId === 'korday');
    expect(queues.length).toBeGreaterThan(2);
    await until('every korday queue closed', async () => {
      const all = await Promise.all(queues.map((q) => est.store.readEstimate(q)));
      return all.every((e) => e?.status === 'closed' && e.statusReason === 'reconstruction');
    });
    const other = await est.store.readEstimate(catalogue.queues().find((q) => q.crossingId !== 'korday')!);
    expect(other?.status).toBe('open');
  });

  it('rides out a real Redis restart that lost the data: retries while down, rebuilds when back', async () => {
    const server = await startRedisServer({ dataDir: tempDir('kezek-redis') });
    cleanups.push(() => server.stop());
    const env = await setup();
    const redis = new Redis(server.url, { maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    cleanups.push(async () => redis.disconnect());
    const t0 = Date.now() - 60 * MIN;
    const events = scenario(t0);
    await publishAll(env.js, env.prefix, events);
    const warnings: { msg: string; messages?: number; err?: { message?: string } }[] = [];
    const captured = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const est = makeEstimator({ ...env, redis }, { logger: captured });
    await est.start();
    await until('all applied', async () => est.stats().applied >= events.length);
    await server.stop();
    await publishAll(env.js, env.prefix, [ev('vehicle.arrived', t0 + 9 * MIN, { vehicleRef: 'DURING-OUTAGE' })]);
    await new Promise((r) => setTimeout(r, 1500));
    await server.restart(); // no persistence: comes back empty
    await until('rebuilt after the restart', async () => est.stats().rebuilds >= 2 && (await est.store.isInitialised().catch(() => false)), 20_000);
    await until('the event sent during the outage applied', async () => {
      const w = await est.store.readWindow(Q, t0 + 10 * MIN, 60 * MIN);
      return w.records.filter((r) => r.kind === 'A').length === 7;
    });
    expect((await est.store.readEstimate(Q))?.asOf).toBe(new Date(t0 + 9 * MIN).toISOString());
    // the operator heard about the put-back message while Redis was down, not only at its last allowed delivery
    expect(est.stats().retried).toBeGreaterThan(0);
    expect(warnings.find((w) => w.msg.startsWith('applying events failed; messages put back'))).toMatchObject({ messages: 1, err: { message: expect.any(String) } });
  });
});
