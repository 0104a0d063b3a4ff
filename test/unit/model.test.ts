import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import { QueueEstimateSchema } from '../../shared/estimates.ts';
import { gammaP, gammaQuantile } from '../../shared/estimation/gamma.ts';
import { computeEstimate, coveragePit, distQuantile, drainSeconds, holEstimate, lesEstimate, MODEL_LOOKBACK_MS, NO_LANES_OPEN_REASON, qlTrueRate, type ModelContext } from '../../shared/estimation/model.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { createRng } from '../../shared/sim/random.ts';
import { simulateQueue } from '../../shared/sim/des.ts';

const catalogue = loadCatalogue();
const Q: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' };
const ctx: ModelContext = { profile: catalogue.profile('korday', 'truck')!, localZone: 'Asia/Almaty', staleAfterMs: 15 * 60_000, nowMs: 0, revision: 3 };
const T0 = Date.parse('2026-11-16T06:00:00Z');
const MIN = 60_000;

/** A small event-list builder; times in minutes after T0, events validated by the real schema. */
function builder() {
  const events: KezekEvent[] = [];
  let n = 0;
  const add = (m: number, type: KezekEvent['type'], extra: Record<string, unknown> = {}, scoped = true) => {
    events.push(KezekEventSchema.parse({ eventId: `m${n++}`, crossingId: Q.crossingId, occurredAt: new Date(T0 + m * MIN).toISOString(), type, ...(scoped ? { direction: Q.direction, vehicleClass: Q.vehicleClass } : {}), ...extra }));
  };
  return { events, add };
}

/** Two hours of a busy 4-lane truck queue: 10-minute services, a vehicle every 1.5 min (40/h against a capacity of 24/h), all waiting vehicles known. */
function busyHistory(opts: { lanes?: number; extraLeaversEvery?: number } = {}) {
  const b = builder();
  const lanes = opts.lanes ?? 4;
  b.add(0, 'lanes.changed', { lanesOpen: lanes });
  let next = 0;
  let started = 0;
  const arrivals: number[] = [];
  for (let m = 0; m < 120; m += 0.5) {
    if (m >= next) {
      const ref = `v${arrivals.length}`;
      b.add(m, 'vehicle.arrived', { vehicleRef: ref });
      arrivals.push(m);
      next = m + 1.5;
      if (opts.extraLeaversEvery && arrivals.length % opts.extraLeaversEvery === 0) {
        // an extra traveller who joins and gives up after 5 minutes (never served, so the served line is unchanged)
        b.add(m + 0.1, 'vehicle.arrived', { vehicleRef: `x${arrivals.length}` });
        b.add(m + 5.1, 'vehicle.abandoned', { vehicleRef: `x${arrivals.length}` });
      }
    }
  }
  // lanes each serve one vehicle per 10 minutes, FIFO
  const queue = arrivals.map((a, i) => ({ a, ref: `v${i}` }));
  const free = new Array(lanes).fill(0) as number[];
  for (const v of queue) {
    const lane = free.indexOf(Math.min(...free));
    const start = Math.max(free[lane]!, v.a + 0.2);
    if (start > 119) break;
    b.add(start, 'vehicle.service_started', { vehicleRef: v.ref });
    if (start + 10 <= 120) b.add(start + 10, 'vehicle.crossed', { vehicleRef: v.ref });
    free[lane] = start + 10;
    started += 1;
  }
  return { ...b, started };
}

const asOf = T0 + 120 * MIN;
const estimate = (events: KezekEvent[], at = asOf, c: ModelContext = ctx) => computeEstimate(windowFromEvents(events, Q, at, MODEL_LOOKBACK_MS), c);

describe('queue model', () => {
  it('produces a valid estimate with a queue-model wait that grows with the queue', () => {
    const h = busyHistory();
    const e = estimate(h.events);
    expect(QueueEstimateSchema.parse(e)).toEqual(e);
    expect(e.method).toMatch(/queue-model|fusion/);
    expect(e.queueLength).toBeGreaterThan(5);
    // roughly (n+1)/c with c = 4 lanes / 600 s
    expect(e.waitSeconds!).toBeGreaterThan(((e.queueLength + 1) * 600) / 4 / 2);
    expect(e.waitSeconds!).toBeLessThan(((e.queueLength + 1) * 600) / 4 * 2);
    expect(e.waitP10Seconds!).toBeLessThanOrEqual(e.waitSeconds!);
    expect(e.waitP90Seconds!).toBeGreaterThan(e.waitSeconds!);
    expect(e.revision).toBe(3);
  });

  it('includes the time to a known reopening when the crossing is closed', () => {
    const h = busyHistory();
    h.add(120, 'crossing.status', { status: 'closed', until: new Date(asOf + 180 * MIN).toISOString(), reason: 'night' }, false);
    const e = estimate(h.events, asOf + 30 * MIN);
    expect(e.method).toBe('closed-known-reopening');
    expect(e.status).toBe('closed');
    expect(e.statusUntil).toBe(new Date(asOf + 180 * MIN).toISOString());
    expect(e.waitP10Seconds!).toBeGreaterThanOrEqual(150 * 60);
    expect(e.waitSeconds!).toBeGreaterThan(150 * 60);
  });

  it('publishes no wait figure when the crossing is closed with no known reopening', () => {
    const h = busyHistory();
    h.add(120, 'crossing.status', { status: 'closed' }, false);
    const e = estimate(h.events, asOf + 10 * MIN);
    expect(e).toMatchObject({ method: 'closed-unknown-reopening', status: 'closed', waitSeconds: null, waitP90Seconds: null });
  });

  it('publishes no wait figure, and says why, when no lane is open on an open crossing', () => {
    const h = busyHistory();
    h.add(120, 'lanes.changed', { lanesOpen: 0 });
    const e = estimate(h.events, asOf + 10 * MIN);
    expect(QueueEstimateSchema.parse(e)).toEqual(e);
    // the shape of a closure with no known reopening, on a crossing that is still open: nobody is served
    expect(e).toMatchObject({ status: 'open', lanesOpen: 0, waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, method: 'closed-unknown-reopening', statusReason: NO_LANES_OPEN_REASON });
    expect(e.queueLength).toBeGreaterThan(5);
    // a lane reopening brings the wait back
    h.add(130, 'lanes.changed', { lanesOpen: 2 });
    const reopened = estimate(h.events, asOf + 10 * MIN);
    expect(reopened).toMatchObject({ lanesOpen: 2, statusReason: null });
    expect(reopened.method).toMatch(/queue-model|fusion/);
    expect(reopened.waitSeconds!).toBeGreaterThan(0);
  });

  it("keeps an official's reason after the no-lanes one when a restricted queue has no lane open", () => {
    const h = busyHistory();
    h.add(120, 'crossing.status', { status: 'restricted', reason: 'repairs' }, false);
    h.add(121, 'lanes.changed', { lanesOpen: 0 });
    const e = estimate(h.events, asOf + 10 * MIN);
    expect(e).toMatchObject({ status: 'restricted', waitSeconds: null, method: 'closed-unknown-reopening', statusReason: `${NO_LANES_OPEN_REASON}; repairs` });
  });

  it('reads 0 lanes during a closure with a known reopening as part of it: the lanes at reopening are the last count', () => {
    const h = busyHistory();
    h.add(120, 'crossing.status', { status: 'closed', until: new Date(asOf + 180 * MIN).toISOString(), reason: 'night' }, false);
    h.add(120, 'lanes.changed', { lanesOpen: 0 });
    const e = estimate(h.events, asOf + 30 * MIN);
    expect(e).toMatchObject({ method: 'closed-known-reopening', status: 'closed', statusReason: 'night' });
    expect(e.waitSeconds!).toBeGreaterThan(150 * 60);
    // once the announced reopening has passed with nobody reporting a lane open, no lane is open
    expect(estimate(h.events, asOf + 200 * MIN)).toMatchObject({ status: 'open', waitSeconds: null, statusReason: NO_LANES_OPEN_REASON });
  });

  it('lowers the estimate when travellers abandon the queue', () => {
    const patient = estimate(busyHistory().events);
    // Same served vehicles and the same queue now, but the history shows travellers giving up: those ahead may
    // leave too, so the wait for the same number ahead is shorter.
    const impatient = estimate(busyHistory({ extraLeaversEvery: 2 }).events);
    expect(patient.queueLength).toBeGreaterThan(10);
    expect(Math.abs(impatient.queueLength - patient.queueLength)).toBeLessThanOrEqual(4); // leavers of the last 5 min still wait
    const perVehicle = (e: typeof patient) => e.waitSeconds! / (e.queueLength + 1);
    expect(perVehicle(impatient)).toBeLessThan(perVehicle(patient) * 0.9);
  });

  it('lowers the estimate when more lanes open', () => {
    const h = busyHistory();
    const before = estimate(h.events);
    h.add(120, 'lanes.changed', { lanesOpen: 8 });
    const after = estimate(h.events);
    expect(after.lanesOpen).toBe(8);
    expect(after.queueLength).toBe(before.queueLength);
    expect(after.waitSeconds!).toBeLessThan(before.waitSeconds! * 0.7);
  });

  it('returns the seed prior with a wide range on cold start', () => {
    const e = estimate([]);
    expect(e.method).toBe('prior');
    expect(e.stale).toBe(true);
    expect(e.lastEventAt).toBeNull();
    expect(e.waitP90Seconds!).toBeGreaterThan(e.waitSeconds!);
    expect(e.lanesOpen).toBe(ctx.profile.lanesTypical);
  });

  it('marks the estimate stale when the newest event is older than the threshold', () => {
    const h = busyHistory();
    expect(estimate(h.events, asOf).stale).toBe(false);
    expect(estimate(h.events, asOf + 60 * MIN).stale).toBe(true);
  });

  it('gives the same estimate whatever the order of events and records', () => {
    const sim = simulateQueue({
      crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', startMs: T0, durationMs: 4 * 60 * MIN, seed: 7,
      arrivalRatePerHour: () => 26, maxArrivalRatePerHour: 26, lanes: [{ atMs: T0, value: 4 }], serviceTimeMeanSeconds: 600,
      serviceTimeScv: 0.8, patienceMeanMinutes: 120, reportAbandonProbability: 0.5, reportArrivalProbability: 0.8,
      observationEveryMs: 30 * MIN, probeEveryMs: 0,
    });
    const at = T0 + 210 * MIN;
    const ref = computeEstimate(windowFromEvents(sim.events, Q, at, MODEL_LOOKBACK_MS), ctx);
    const rng = createRng(1, 'shuffle');
    for (let k = 0; k < 3; k++) {
      const shuffled = [...sim.events];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const w = windowFromEvents(shuffled, Q, at, MODEL_LOOKBACK_MS);
      expect(computeEstimate(w, ctx)).toEqual(ref);
      expect(computeEstimate({ ...w, records: [...w.records].reverse() }, ctx)).toEqual(ref);
    }
  });

  it('corrects the queue length from an observed count and keeps LES/HOL as baselines', () => {
    const h = busyHistory();
    const w = windowFromEvents(h.events, Q, asOf, MODEL_LOOKBACK_MS);
    const les = lesEstimate(w);
    expect(les).not.toBeNull();
    expect(les!).toBeGreaterThan(0);
    expect(holEstimate(w)).toBeGreaterThanOrEqual(les! * 0.5);
    const base = estimate(h.events);
    h.add(120, 'queue.observed', { queueLength: base.queueLength + 20 });
    const counted = estimate(h.events);
    expect(counted.queueLength).toBe(base.queueLength + 20);
    expect(counted.waitSeconds!).toBeGreaterThan(base.waitSeconds!);
  });
});

describe('queueing formulas', () => {
  it('drain time is (n+1)/c without abandonment and follows the fluid limit for long queues', () => {
    expect(drainSeconds(10, 0.01, 0)).toBeCloseTo(1000, 6);
    const theta = 1 / 3600;
    const c = 0.02;
    const k = 5000;
    expect(drainSeconds(k, c, theta)).toBeCloseTo(Math.log(1 + (k * theta) / c) / theta, -1);
    expect(drainSeconds(k, c, theta)).toBeLessThan(k / c);
  });

  it('QL is zero with a free lane and nobody waiting', () => {
    expect(qlTrueRate(0, 4, 1 / 600, 3)).toBe(0);
    expect(qlTrueRate(3, 4, 1 / 600)).toBeCloseTo(600, 6);
  });

  it('calibration scores a wait as covered at level a exactly when the quantile at a covers it (atom at zero included)', () => {
    // 60% chance of no wait beyond the offset, else Gamma: a zero wait is covered by the quantile at EVERY level,
    // so the level that covers 90% of realised waits must count it as covered (not as a uniform PIT on [0, 0.6]).
    const d = { k: 0.4, offset: 30, p0: 0.6, mean: 90, shape: 2 };
    expect(coveragePit(d, 30)).toBe(0);
    expect(coveragePit(d, 0)).toBe(0);
    for (const w of [30, 31, 45, 60, 100, 200, 400]) {
      for (const a of [0.05, 0.1, 0.3, 0.59, 0.61, 0.7, 0.9, 0.95]) {
        expect(coveragePit(d, w) <= a).toBe(w <= distQuantile(d, a) + 1e-6);
      }
    }
  });

  it('gamma quantile inverts the incomplete gamma', () => {
    expect(gammaQuantile(0.5, 1)).toBeCloseTo(Math.LN2, 6);
    for (const a of [0.3, 1, 4.5, 80]) for (const p of [0.1, 0.5, 0.9]) expect(gammaP(a, gammaQuantile(p, a))).toBeCloseTo(p, 6);
  });
});
