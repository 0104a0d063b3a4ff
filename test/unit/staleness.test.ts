/**
 * When a queue's silence becomes suspicious (shared/estimation/staleness.ts), the model's `stale`/`staleAt`, the
 * API view and the dashboard's rule that read it.
 */
import { describe, expect, it } from 'vitest';
import { loadCatalogue, type ClassProfile } from '../../shared/catalogue/index.ts';
import { MAX_SILENCE_MS, SILENCE_EXPECTED_EVENTS, silentSourceAt } from '../../shared/estimation/staleness.ts';
import { computeEstimate } from '../../shared/estimation/model.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { staleAtOf, toQueueView } from '../../services/api/view.ts';
import { apiReaderModel } from '../../services/api/reader.ts';

// the dashboard's plain browser module (no type declarations), imported by URL as in test/e2e/dashboard-logic.test.ts
const dashboard = (await import(new URL('../../services/api/public/model.js', import.meta.url).href)) as { isStale: (est: unknown, now: number, staleAfterMs: number) => boolean };

const MIN = 60_000;
const HOUR = 60 * MIN;
const STALE_MS = 15 * MIN;
/** Local = UTC+5 (Asia/Almaty): 2026-11-17 is a Tuesday. */
const localTime = (hh: number, mm = 0) => Date.parse(`2026-11-17T${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:00+05:00`);

/** A profile with `perHour` arrivals in every hour, or the given 24 hourly rates. */
function profile(hourly: number | number[], extra: Partial<ClassProfile> = {}): ClassProfile {
  return {
    vehicleClass: 'bus',
    lanesTypical: 1,
    lanesMax: 2,
    serviceTimeMeanSeconds: 600,
    serviceTimeScv: 1,
    hourlyArrivals: typeof hourly === 'number' ? new Array<number>(24).fill(hourly) : hourly,
    weekdayFactors: [1, 1, 1, 1, 1, 1, 1],
    estimate: true,
    ...extra,
  };
}
const idle: { status: 'open' | 'closed' | 'restricted'; statusUntilMs?: number | null; lanesOpen: number; queueLength: number } = { status: 'open', lanesOpen: 1, queueLength: 0 };
const at = (last: number, p: ClassProfile, state: Partial<typeof idle> = {}) =>
  silentSourceAt(last, { staleAfterMs: STALE_MS, profile: p, localZone: 'Asia/Almaty', ...idle, ...state });

describe('silentSourceAt', () => {
  it('a busy queue turns stale at the fixed threshold', () => {
    const last = localTime(14);
    expect(at(last, profile(120))).toBe(last + STALE_MS); // 30 events expected in 15 min
  });

  it('a quiet queue turns stale once an event was 99 % likely: ln(100) / rate', () => {
    const last = localTime(2, 10);
    const staleAt = at(last, profile(2));
    expect((staleAt - last) / HOUR).toBeCloseTo(SILENCE_EXPECTED_EVENTS / 2, 2); // ~2.3 h
  });

  it('follows the hourly profile in the crossing local time and the weekday factor', () => {
    // nothing expected before 06:00 local, 60 an hour from then: stale ~4.6 min after 06:00, not 15 min after 05:00
    const hourly = new Array<number>(24).fill(0);
    for (let h = 6; h < 24; h++) hourly[h] = 60;
    const last = localTime(5);
    expect((at(last, profile(hourly)) - localTime(6)) / MIN).toBeCloseTo(SILENCE_EXPECTED_EVENTS, 1);
    // Tuesday's factor 0.5 halves the rate: twice as long after 06:00
    const tuesdayHalf = profile(hourly, { weekdayFactors: [1, 0.5, 1, 1, 1, 1, 1] });
    expect((at(last, tuesdayHalf) - localTime(6)) / MIN).toBeCloseTo(2 * SILENCE_EXPECTED_EVENTS, 1);
  });

  it('a waiting queue with open lanes is expected to move: its service starts count, unless it is closed', () => {
    const last = localTime(3);
    const quiet = profile(0); // no arrivals expected at all
    // 2 lanes x 10-minute services = 12 starts an hour, 10 vehicles waiting: 4.6 starts expected after 23 min
    expect((at(last, quiet, { lanesOpen: 2, queueLength: 10 }) - last) / MIN).toBeCloseTo((SILENCE_EXPECTED_EVENTS / 12) * 60, 1);
    // 3 waiting can never make 4.6 starts: only the cap applies
    expect(at(last, quiet, { lanesOpen: 2, queueLength: 3 })).toBe(last + MAX_SILENCE_MS);
    expect(at(last, quiet, { lanesOpen: 2, queueLength: 10, status: 'closed' })).toBe(last + MAX_SILENCE_MS);
    expect(at(last, quiet, { lanesOpen: 0, queueLength: 10 })).toBe(last + MAX_SILENCE_MS);
  });

  it('reads the hour and weekday in the crossing local time across local midnight, from any minute', () => {
    // only Tuesday 00:00-01:00 local has traffic (60 an hour); Monday 23:30 in Bishkek (+6) is still Monday 17:30 UTC
    const hourly = new Array<number>(24).fill(0);
    hourly[0] = 60;
    const tuesdayOnly = profile(hourly, { weekdayFactors: [0, 1, 0, 0, 0, 0, 0] });
    const last = Date.parse('2026-11-16T23:30:00+06:00');
    const ctx = { staleAfterMs: STALE_MS, profile: tuesdayOnly, localZone: 'Asia/Bishkek', ...idle };
    expect((silentSourceAt(last, ctx) - Date.parse('2026-11-17T00:00:00+06:00')) / MIN).toBeCloseTo(SILENCE_EXPECTED_EVENTS, 1);
    // a last event off the 5-minute grid: the first, partial step counts as much as a whole one
    const odd = Date.parse('2026-11-17T02:07:13+05:00');
    expect((at(odd, profile(2)) - odd) / HOUR).toBeCloseTo(SILENCE_EXPECTED_EVENTS / 2, 3);
  });

  it('a closure with a known reopening: no service starts before it, never stale before the reopening + the threshold', () => {
    const last = localTime(18);
    const until = last + 15 * HOUR; // 09:00 the next day: longer than the 12 h cap
    const closed = { status: 'closed' as const, statusUntilMs: until, lanesOpen: 2, queueLength: 10 };
    // no arrivals expected: 10 waiting at 2 lanes x 10 min make 4.6 starts 23 min after the reopening
    expect((at(last, profile(0), closed) - until) / MIN).toBeCloseTo((SILENCE_EXPECTED_EVENTS / 12) * 60, 1);
    // arrivals expected all night: still not before the reopening + STALE_AFTER
    expect(at(last, profile(60), closed)).toBe(until + STALE_MS);
    // a reopening already past at the last event is no closure
    expect(at(last, profile(120), { ...closed, status: 'open', statusUntilMs: last - HOUR })).toBe(last + STALE_MS);
  });

  it('no traffic at all: stale after the cap; a cap at the fixed threshold (STALE_QUIET_MAX_SECONDS) restores it', () => {
    const last = localTime(1);
    expect(at(last, profile(0))).toBe(last + MAX_SILENCE_MS);
    expect(silentSourceAt(last, { staleAfterMs: STALE_MS, maxSilenceMs: 2 * HOUR, profile: profile(0), localZone: 'Asia/Almaty', ...idle })).toBe(last + 2 * HOUR);
    expect(silentSourceAt(last, { staleAfterMs: STALE_MS, maxSilenceMs: STALE_MS, profile: profile(2), localZone: 'Asia/Almaty', ...idle })).toBe(last + STALE_MS);
  });
});

describe('staleness of an estimate', () => {
  const catalogue = loadCatalogue();
  const bus = catalogue.profile('korday', 'bus')!;
  const Q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'bus' as const };
  const ev = (t: number, n: number): KezekEvent =>
    KezekEventSchema.parse({ eventId: `s${n}`, ...Q, occurredAt: new Date(t).toISOString(), type: 'vehicle.arrived', vehicleRef: `B${n}` });
  const estimateAt = (lastEvent: number, asOf: number): QueueEstimate => {
    const events = [ev(lastEvent - 30 * MIN, 1), ev(lastEvent, 2)];
    return computeEstimate(windowFromEvents(events, Q, asOf, 6 * HOUR), { profile: bus, localZone: 'Asia/Almaty', staleAfterMs: STALE_MS, nowMs: asOf, revision: 1 });
  };

  it('the model publishes staleAt from the profile, and stale once asOf is past it', () => {
    const last = localTime(3);
    const e = estimateAt(last, last);
    const expected = silentSourceAt(last, { staleAfterMs: STALE_MS, profile: bus, localZone: 'Asia/Almaty', status: e.status, lanesOpen: e.lanesOpen, queueLength: e.queueLength });
    expect(e.staleAt).toBe(new Date(expected).toISOString());
    expect(expected).toBeGreaterThan(last + STALE_MS); // Korday's buses at 03:00 are a quiet queue
    expect(e.stale).toBe(false);
    expect(estimateAt(last, expected - MIN).stale).toBe(false);
    expect(estimateAt(last, expected + MIN).stale).toBe(true);
  });

  it('an asOf after the last event judges the silence by the queue at its last event (a closure then in force)', () => {
    const truck = catalogue.profile('korday', 'truck')!;
    const T = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const };
    const last = localTime(18);
    const until = last + 15 * HOUR;
    const events: KezekEvent[] = [
      KezekEventSchema.parse({ eventId: 'l1', ...T, occurredAt: new Date(last - 2 * HOUR).toISOString(), type: 'lanes.changed', lanesOpen: 2 }),
      KezekEventSchema.parse({ eventId: 'o1', ...T, occurredAt: new Date(last - HOUR).toISOString(), type: 'queue.observed', queueLength: 25 }),
      KezekEventSchema.parse({ eventId: 'c1', ...T, occurredAt: new Date(last).toISOString(), type: 'crossing.status', status: 'closed', until: new Date(until).toISOString() }),
    ];
    const ctxFor = (asOf: number) => ({ profile: truck, localZone: 'Asia/Almaty', staleAfterMs: STALE_MS, nowMs: asOf, revision: 1 });
    const live = computeEstimate(windowFromEvents(events, T, last, 6 * HOUR), ctxFor(last));
    expect(live.status).toBe('closed');
    expect(Date.parse(live.staleAt!)).toBeGreaterThanOrEqual(until + STALE_MS);
    // asked the next morning, after the reopening, the answer keeps the same staleAt (it counted service from 18:00)
    const later = computeEstimate(windowFromEvents(events, T, until + 30 * MIN, 24 * HOUR), ctxFor(until + 30 * MIN));
    expect(later.status).toBe('open');
    expect(later.staleAt).toBe(live.staleAt);
  });

  it('the API view and the dashboard call the quiet queue fresh until staleAt, and stale after', () => {
    const last = localTime(3);
    const e = estimateAt(last, last);
    const staleAt = Date.parse(e.staleAt!);
    const crossing = catalogue.get('korday')!;
    const view = (now: number) => toQueueView(crossing, Q.direction, Q.vehicleClass, e, now, STALE_MS);
    expect(view(last + STALE_MS + MIN)).toMatchObject({ stale: false, staleAt: e.staleAt });
    expect(view(staleAt + 1).stale).toBe(true);
    expect(dashboard.isStale(e, last + STALE_MS + MIN, STALE_MS)).toBe(false);
    expect(dashboard.isStale(e, staleAt + 1, STALE_MS)).toBe(true);
    // an estimate stored before staleAt existed: the fixed threshold, as before
    const { staleAt: _dropped, ...older } = e;
    expect(staleAtOf(older, STALE_MS)).toBe(last + STALE_MS);
    expect(view(last + STALE_MS + MIN).stale).toBe(false);
    expect(toQueueView(crossing, Q.direction, Q.vehicleClass, older, last + STALE_MS + MIN, STALE_MS).stale).toBe(true);
    expect(dashboard.isStale(older, last + STALE_MS + MIN, STALE_MS)).toBe(true);
    // unreadable times: no event known (stale), or the fixed threshold; never a thrown error
    expect(staleAtOf({ ...e, lastEventAt: 'not a time' }, STALE_MS)).toBeNull();
    expect(toQueueView(crossing, Q.direction, Q.vehicleClass, { ...e, lastEventAt: 'not a time' }, last, STALE_MS).stale).toBe(true);
    expect(staleAtOf({ ...e, staleAt: 'not a time' }, STALE_MS)).toBe(last + STALE_MS);
    expect(dashboard.isStale({ ...e, lastEventAt: 'not a time' }, last, STALE_MS)).toBe(true);
    expect(dashboard.isStale({ ...e, staleAt: 'not a time' }, last + STALE_MS + MIN, STALE_MS)).toBe(true);
    // the API's own threshold is a floor: a staleAt before it does not make a queue stale earlier
    expect(staleAtOf({ ...e, staleAt: new Date(last + MIN).toISOString() }, STALE_MS)).toBe(last + STALE_MS);
  });

  it("the API's asOf model uses STALE_QUIET_MAX_SECONDS like the estimator (a cap at the fixed threshold makes it fixed)", () => {
    const last = localTime(3);
    const window = windowFromEvents([ev(last - 30 * MIN, 1), ev(last, 2)], Q, last, 6 * HOUR);
    const fixed = apiReaderModel({ catalogue, staleAfterSeconds: STALE_MS / 1000, maxSilenceSeconds: STALE_MS / 1000, now: () => last })(window);
    expect(fixed.staleAt).toBe(new Date(last + STALE_MS).toISOString());
    // without the setting: the same default as the estimator's (a quiet queue's staleAt is later)
    const quiet = apiReaderModel({ catalogue, staleAfterSeconds: STALE_MS / 1000, now: () => last })(window);
    expect(quiet.staleAt).toBe(estimateAt(last, last).staleAt);
    expect(Date.parse(quiet.staleAt!)).toBeGreaterThan(last + STALE_MS);
  });
});
