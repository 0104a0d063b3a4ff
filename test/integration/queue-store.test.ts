/**
 * The queue store's Lua transitions against a real redis-server (shared by the run, isolated by a unique prefix).
 * Windows are compared with windowFromEvents, the TypeScript oracle of the same semantics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import { createQueueStore, QueueStoreError, type QueueStore } from '../../shared/queue-store/store.ts';
import { dumpKeys } from '../../shared/queue-store/dump.ts';
import { callScript } from '../../shared/queue-store/scripts.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { redisUrl, uniquePrefix } from '../helpers/env.ts';

const T0 = Date.UTC(2026, 10, 22, 8, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const Q: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' };
const Q2: QueueRef = { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car' };

let n = 0;
function ev(type: KezekEvent['type'], tMs: number, extra: Record<string, unknown> = {}, queue: Partial<QueueRef> = Q): KezekEvent {
  n += 1;
  return KezekEventSchema.parse({ eventId: `e-${String(n).padStart(5, '0')}`, crossingId: 'korday', ...queue, occurredAt: new Date(tMs).toISOString(), type, ...extra });
}
const arrived = (t: number, ref?: string) => ev('vehicle.arrived', t, ref ? { vehicleRef: ref } : {});
const started = (t: number, ref: string) => ev('vehicle.service_started', t, { vehicleRef: ref });
const crossed = (t: number, ref: string) => ev('vehicle.crossed', t, { vehicleRef: ref });
const abandoned = (t: number, ref: string) => ev('vehicle.abandoned', t, { vehicleRef: ref });
const observed = (t: number, queueLength: number) => ev('queue.observed', t, { queueLength });
const lanes = (t: number, lanesOpen: number) => ev('lanes.changed', t, { lanesOpen });

let redis: Redis;
beforeAll(() => {
  redis = new Redis(redisUrl(), { lazyConnect: false, maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  await redis.quit();
});

function newStore(extra: Partial<Parameters<typeof createQueueStore>[0]> = {}): QueueStore {
  return createQueueStore({ redis, prefix: uniquePrefix(), ...extra });
}
async function applyAll(store: QueueStore, events: KezekEvent[]) {
  const out = [];
  for (const e of events) out.push(await store.applyEvent(e));
  return out;
}

describe('queue store: apply-event', () => {
  it("apply-events refuses packed events whose field count is not 6 per event, naming it, and writes nothing", async () => {
    const store = newStore();
    const c = store.keys.crossing('korday');
    const k = store.keys.queue(Q);
    const queueKeys = store.keys.applyEventsKeys(Q);
    // one event's 6 fields minus its value: a caller bug, not an event to apply
    const fields = ['1', 'e-bad', String(T0), 'A', 'v1'].join('\u001e');
    await expect(callScript(redis, 'apply-events', [c.ids, c.cmeta, ...queueKeys], [7 * 24 * HOUR, 30 * 24 * HOUR, 15 * MIN, fields])).rejects.toThrow(/6 fields per event, got 5/);
    expect(await redis.exists(c.ids, c.cmeta, ...queueKeys)).toBe(0);
    // the same event with its (empty) value field is applied
    await expect(callScript(redis, 'apply-events', [c.ids, c.cmeta, ...queueKeys], [7 * 24 * HOUR, 30 * 24 * HOUR, 15 * MIN, `${fields}\u001e`])).resolves.toEqual([0, 0]);
    expect(await redis.zcard(k.records.A)).toBe(1);
  });

  it('events applied in the same tick are settled one by one: a duplicate, a conflict or a failing queue does not affect the others', async () => {
    const store = newStore();
    const a = arrived(T0, 'v1');
    expect(await store.applyEvent(a)).toBe('applied');
    const clash = KezekEventSchema.parse({ ...a, occurredAt: new Date(T0 + MIN).toISOString() });
    const ok = arrived(T0 + 2 * MIN, 'v2');
    const other = ev('vehicle.arrived', T0 + 2 * MIN, { vehicleRef: 'w1' }, Q2);
    // a queue whose state the script cannot use (a key of the wrong type) fails its own event only
    await redis.set(store.keys.queue(Q2).meta, 'not a hash');
    const settled = await Promise.allSettled([store.applyEvent(a), store.applyEvent(clash), store.applyEvent(ok), store.applyEvent(other)]);
    expect(settled.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code?: string; message: string }).code ?? r.reason.message))).toEqual([
      'duplicate',
      'EVENT_ID_CONFLICT',
      'applied',
      expect.stringMatching(/WRONGTYPE/),
    ]);
    expect((await store.readWindow(Q, T0 + 10 * MIN)).records.map((r) => r.eventId)).toEqual([a.eventId, ok.eventId]);
  });

  it('when a duplicate eventId arrives, nothing changes and DUPLICATE is reported', async () => {
    const store = newStore();
    const events = [arrived(T0, 'v1'), arrived(T0 + MIN, 'v2'), started(T0 + 2 * MIN, 'v1'), observed(T0 + 3 * MIN, 5)];
    expect(await applyAll(store, events)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const before = await dumpKeys(redis, store.keys.root);
    expect(await applyAll(store, [events[2]!, events[0]!, events[3]!])).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(await dumpKeys(redis, store.keys.root)).toEqual(before);
    const w = await store.readWindow(Q, T0 + 10 * MIN);
    expect(w.records.filter((r) => r.kind === 'A')).toHaveLength(2);
  });

  it('when an eventId comes back with another event time, it is refused as a conflict and nothing changes', async () => {
    const store = newStore();
    const a = arrived(T0, 'v1');
    await store.applyEvent(a);
    const before = await dumpKeys(redis, store.keys.root);
    const clash = { ...a, occurredAt: new Date(T0 + MIN).toISOString() };
    await expect(store.applyEvent(clash)).rejects.toMatchObject({ code: 'EVENT_ID_CONFLICT' });
    expect(await dumpKeys(redis, store.keys.root)).toEqual(before);
  });

  it('when an event arrives late, it lands at its event time in the window', async () => {
    const store = newStore();
    const early = arrived(T0, 'v1');
    const mid = arrived(T0 + 10 * MIN, 'v2');
    const late = started(T0 + 5 * MIN, 'v1');
    await applyAll(store, [early, mid, late]);
    const w = await store.readWindow(Q, T0 + 20 * MIN, HOUR);
    expect(w.records.map((r) => r.eventId)).toEqual([early.eventId, late.eventId, mid.eventId]);
    expect(w).toEqual(windowFromEvents([early, mid, late], Q, T0 + 20 * MIN, HOUR));
    // the late start is counted before the window start that follows it
    const w2 = await store.readWindow(Q, T0 + 20 * MIN, 14 * MIN);
    expect(w2.fromMs).toBe(T0 + 6 * MIN);
    expect(w2.queueLengthAtFrom).toBe(0);
  });

  it('a window never contains data after asOf', async () => {
    const store = newStore();
    const events = [
      observed(T0, 3),
      lanes(T0, 2),
      arrived(T0 + MIN, 'v1'),
      started(T0 + 2 * MIN, 'v1'),
      lanes(T0 + 30 * MIN, 4),
      observed(T0 + 30 * MIN, 40),
      crossed(T0 + 31 * MIN, 'v1'),
      ev('crossing.status', T0 + 32 * MIN, { status: 'closed', reason: 'storm' }, { direction: undefined, vehicleClass: undefined }),
    ];
    await applyAll(store, events);
    const asOf = T0 + 29 * MIN;
    const w = await store.readWindow(Q, asOf, 10 * MIN);
    expect(w.records.every((r) => r.t <= asOf)).toBe(true);
    expect(w.lastEventMs).toBe(T0 + 2 * MIN);
    expect(w).toEqual(windowFromEvents(events, Q, asOf, 10 * MIN));
    expect(w.lanesAtFrom).toBe(2);
    expect(w.statusAtFrom).toBeNull();
    const wLater = await store.readWindow(Q, T0 + 40 * MIN, 10 * MIN);
    expect(wLater).toEqual(windowFromEvents(events, Q, T0 + 40 * MIN, 10 * MIN));
    expect(wLater.records.map((r) => r.kind)).toEqual(['C', 'T']);
    expect(wLater.earlierStarts).toEqual({ v1: T0 + 2 * MIN });
  });

  it('queue length at the window start = newest observation + arrivals - starts - abandonments after it', async () => {
    const store = newStore();
    const events = [
      arrived(T0, 'a'),
      arrived(T0 + MIN, 'b'),
      arrived(T0 + 2 * MIN, 'c'),
      observed(T0 + 2 * MIN, 10), // the arrival at the same ms is already in the count
      arrived(T0 + 3 * MIN, 'd'),
      started(T0 + 4 * MIN, 'a'),
      abandoned(T0 + 5 * MIN, 'b'),
      arrived(T0 + 6 * MIN),
    ];
    await applyAll(store, events);
    const w = await store.readWindow(Q, T0 + 20 * MIN, 20 * MIN - 7 * MIN);
    expect(w.queueLengthAtFrom).toBe(10 + 1 - 1 - 1 + 1);
    expect(w).toEqual(windowFromEvents(events, Q, T0 + 20 * MIN, 13 * MIN));
    // without an observation, counted from the beginning and clamped at 0
    const store2 = newStore();
    const ev2 = [started(T0, 'x'), started(T0 + MIN, 'y'), arrived(T0 + 2 * MIN, 'z')];
    await applyAll(store2, ev2);
    expect((await store2.readWindow(Q, T0 + 10 * MIN, 7 * MIN)).queueLengthAtFrom).toBe(0);
    expect(await store2.readWindow(Q, T0 + 10 * MIN, 7 * MIN)).toEqual(windowFromEvents(ev2, Q, T0 + 10 * MIN, 7 * MIN));
  });

  it('earlier arrivals and starts are given for vehicles resolved inside the window', async () => {
    const store = newStore();
    const events = [arrived(T0, 'v1'), arrived(T0 + MIN, 'v2'), started(T0 + 2 * MIN, 'v2'), started(T0 + 20 * MIN, 'v1'), crossed(T0 + 21 * MIN, 'v2'), crossed(T0 + 22 * MIN, 'v1')];
    await applyAll(store, [...events].reverse());
    const w = await store.readWindow(Q, T0 + 30 * MIN, 25 * MIN);
    expect(w.earlierArrivals).toEqual({ v1: T0 });
    expect(w.earlierStarts).toEqual({ v2: T0 + 2 * MIN });
    expect(w).toEqual(windowFromEvents(events, Q, T0 + 30 * MIN, 25 * MIN));
  });

  it('a crossing-wide status reaches every queue of the crossing; a scoped one only its own', async () => {
    const store = newStore();
    const all = ev('crossing.status', T0, { status: 'closed', until: new Date(T0 + 2 * HOUR).toISOString(), reason: '' }, { direction: undefined, vehicleClass: undefined });
    const scoped = ev('crossing.status', T0 + MIN, { status: 'restricted' }, { direction: 'KG-KZ', vehicleClass: undefined });
    const events = [all, scoped, arrived(T0 + 2 * MIN, 'x')];
    await applyAll(store, events);
    for (const q of [Q, Q2]) {
      const w = await store.readWindow(q, T0 + 10 * MIN, 5 * MIN);
      expect(w).toEqual(windowFromEvents(events, q, T0 + 10 * MIN, 5 * MIN));
    }
    expect((await store.readWindow(Q, T0 + 10 * MIN, 5 * MIN)).statusAtFrom).toMatchObject({ status: 'closed', untilMs: T0 + 2 * HOUR, reason: '' });
    expect((await store.readWindow(Q2, T0 + 10 * MIN, 5 * MIN)).statusAtFrom).toMatchObject({ status: 'restricted', eventId: scoped.eventId });
    expect(await store.lastEventMs(Q2)).toBe(T0 + MIN);
    expect(await store.lastEventMs(Q)).toBe(T0 + 2 * MIN);
  });
});

describe('queue store: retention', () => {
  it('trimmed records are folded so queue length, lanes and status stay right; older events are refused as too late', async () => {
    const store = newStore({ retentionMs: HOUR, historyRetentionMs: 2 * HOUR });
    const events: KezekEvent[] = [
      ev('crossing.status', T0 - MIN, { status: 'restricted', reason: 'works' }, { direction: undefined, vehicleClass: undefined }),
      lanes(T0, 3),
      observed(T0, 7),
    ];
    for (let i = 0; i < 30; i++) events.push(arrived(T0 + i * 4 * MIN, `r${i}`)); // 2 h of arrivals
    for (let i = 0; i < 10; i++) events.push(started(T0 + 5 * MIN + i * 9 * MIN, `r${i}`));
    events.push(ev('crossing.status', T0 + 100 * MIN, { status: 'open' }, { direction: undefined, vehicleClass: undefined }));
    // another scope of the crossing moves the crossing's newest event time to 170 min
    events.push(ev('crossing.status', T0 + 170 * MIN, { status: 'open' }, { direction: 'KG-KZ', vehicleClass: undefined }));
    events.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    await applyAll(store, events);
    const asOf = T0 + 119 * MIN;
    // the window can only start at the trim boundary (newest queue event - 1 h)
    const w = await store.readWindow(Q, asOf, 30 * MIN);
    const oracle = windowFromEvents(events, Q, asOf, 30 * MIN);
    expect(w).toEqual(oracle);
    expect(w.queueLengthAtFrom).toBe(7 + 22 - 10); // after the observation at 0: arrivals 4..88 min (22), starts (10)
    expect(w.lanesAtFrom).toBe(3);
    expect(w.statusAtFrom).toMatchObject({ status: 'restricted', reason: 'works' });
    const meta = await redis.hgetall(store.keys.queue(Q).meta);
    expect(Number(meta.tb)).toBe(T0 + 116 * MIN - HOUR);
    expect(await redis.zcard(store.keys.queue(Q).records.A)).toBeLessThan(30);
    // windows before the boundary are refused, not silently wrong
    await expect(store.readWindow(Q, T0 + 30 * MIN)).rejects.toMatchObject({ code: 'OUT_OF_RETENTION' });
    // the crossing's newest event (the status at 170 min) sets the too-late cutoff for every event of the crossing
    await expect(store.applyEvent(arrived(T0 + 100 * MIN, 'late'))).rejects.toSatisfy(
      (e: unknown) => e instanceof QueueStoreError && e.code === 'TOO_LATE',
    );
    expect(await store.applyEvent(arrived(T0 + 115 * MIN, 'ok'))).toBe('applied');
    // eventIds of the crossing are trimmed by event time too
    expect(await redis.zcount(store.keys.crossing('korday').ids, '-inf', `(${T0 + 110 * MIN}`)).toBe(0);
  });
});

describe('queue store: estimates and history', () => {
  const est = (asOfMs: number, wait: number): QueueEstimate => ({
    ...Q,
    status: 'open',
    statusUntil: null,
    statusReason: null,
    lanesOpen: 3,
    queueLength: 12,
    waitSeconds: wait,
    waitP10Seconds: wait / 2,
    waitP90Seconds: wait * 2,
    lastEventAt: new Date(asOfMs).toISOString(),
    asOf: new Date(asOfMs).toISOString(),
    updatedAt: new Date().toISOString(),
    method: 'queue-model',
    stale: false,
    revision: 99,
  });

  it('revisions only increase and an older estimate does not overwrite a newer one', async () => {
    const store = newStore();
    expect(await store.isInitialised()).toBe(false);
    expect(await store.readAllEstimates()).toEqual([]);
    const r1 = await store.writeEstimate(est(T0, 600));
    const r2 = await store.writeEstimate(est(T0 + MIN, 700));
    const r3 = await store.writeEstimate(est(T0 + 30_000, 800));
    expect([r1.revision, r2.revision, r3.revision]).toEqual([1, 2, 2]);
    expect(r3.written).toBe(false);
    expect(await store.readEstimate(Q)).toMatchObject({ waitSeconds: 700, revision: 2 });
    expect(await store.readAllEstimates()).toHaveLength(1);
    expect(await redis.smembers(store.keys.queueIndex)).toEqual(['korday|KZ-KG|car']); // once, refused write or not
    // an index entry whose estimate is missing (a write-estimate that failed after the index was updated) is skipped
    await redis.sadd(store.keys.queueIndex, 'korday|KG-KZ|truck');
    expect((await store.readAllEstimates()).map((e) => e.waitSeconds)).toEqual([700]);
    await store.markInitialised();
    expect(await store.isInitialised()).toBe(true);
  });

  it('history has arrivals, starts, realised waits and the published estimate carried to each bucket end', async () => {
    const store = newStore();
    // v1 waits 4 min, v2 waits 6 min; v2's start is applied before its arrival
    await applyAll(store, [arrived(T0, 'v1'), started(T0 + 6 * MIN, 'v2'), started(T0 + 4 * MIN, 'v1'), arrived(T0 + MIN, 'v3'), arrived(T0, 'v2')]);
    await store.writeEstimate(est(T0 + 2 * MIN, 300));
    await store.writeEstimate(est(T0 + 11 * MIN, 900));
    const h = await store.readHistory(Q, T0, T0 + 20 * MIN, 5 * MIN);
    expect(h.map((p) => p.t)).toEqual([T0, T0 + 5 * MIN, T0 + 10 * MIN, T0 + 15 * MIN]);
    expect(h.map((p) => p.arrivals)).toEqual([3, 0, 0, 0]);
    expect(h.map((p) => p.served)).toEqual([1, 1, 0, 0]);
    expect(h.map((p) => p.realisedWaitSeconds)).toEqual([240, 360, null, null]);
    expect(h.map((p) => p.waitSeconds)).toEqual([300, 300, 900, 900]);
    const h10 = await store.readHistory(Q, T0, T0 + 20 * MIN, 10 * MIN);
    expect(h10.map((p) => p.realisedWaitSeconds)).toEqual([300, null]);
    await expect(store.readHistory(Q, T0, T0 + HOUR, 7 * MIN)).rejects.toMatchObject({ code: 'BAD_ARGUMENT' });
  });

  it('a new arrival between an earlier arrival and a start of the same ref re-pairs the realised wait', async () => {
    const store = newStore();
    await applyAll(store, [arrived(T0, 'v'), started(T0 + 10 * MIN, 'v'), arrived(T0 + 8 * MIN, 'v')]);
    const h = await store.readHistory(Q, T0 + 10 * MIN, T0 + 15 * MIN, 5 * MIN);
    expect(h[0]!.realisedWaitSeconds).toBe(120);
  });
});
