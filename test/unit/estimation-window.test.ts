import { describe, expect, it } from 'vitest';
import { KezekEventSchema, type KezekEvent } from '../../shared/events/index.ts';
import { windowFromEvents } from '../../shared/estimation/reference-window.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';

const Q: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' };
const T0 = Date.parse('2026-11-16T06:00:00Z');
const MIN = 60_000;
let n = 0;

/** Builds a contract event through the real schema; `m` = minutes after T0. */
function ev(m: number, type: KezekEvent['type'], extra: Record<string, unknown> = {}, q: Partial<QueueRef> | null = Q): KezekEvent {
  return KezekEventSchema.parse({ eventId: `e${n++}`, crossingId: 'korday', occurredAt: new Date(T0 + m * MIN).toISOString(), type, ...(q ?? {}), ...extra });
}

describe('windowFromEvents (reference window)', () => {
  it('excludes records after asOf and counts a duplicated eventId once', () => {
    const a = ev(1, 'vehicle.arrived', { vehicleRef: 'a' });
    const events = [a, a, ev(2, 'vehicle.arrived', { vehicleRef: 'b' }), ev(30, 'vehicle.arrived', { vehicleRef: 'c' })];
    const w = windowFromEvents(events, Q, T0 + 10 * MIN, 60 * MIN);
    expect(w.records.map((r) => r.ref)).toEqual(['a', 'b']);
    expect(w.lastEventMs).toBe(T0 + 2 * MIN);
  });

  it('derives queueLengthAtFrom from the newest observation plus arrivals minus starts and abandonments since', () => {
    const events = [
      ev(0, 'vehicle.arrived', { vehicleRef: 'old' }),
      ev(5, 'queue.observed', { queueLength: 10 }),
      ev(5, 'vehicle.arrived', { vehicleRef: 'same-ms' }), // sorts before the observation: already counted in it
      ev(6, 'vehicle.arrived', { vehicleRef: 'a' }),
      ev(7, 'vehicle.arrived'),
      ev(8, 'vehicle.service_started', { vehicleRef: 'x' }),
      ev(9, 'vehicle.abandoned', { vehicleRef: 'y' }),
      ev(9, 'vehicle.crossed', { vehicleRef: 'z' }),
      ev(15, 'vehicle.arrived', { vehicleRef: 'in-window' }),
    ];
    const w = windowFromEvents(events, Q, T0 + 20 * MIN, 10 * MIN);
    expect(w.fromMs).toBe(T0 + 10 * MIN);
    expect(w.queueLengthAtFrom).toBe(10 + 2 - 1 - 1);
    expect(w.records.map((r) => r.ref)).toEqual(['in-window']);
  });

  it('counts from the beginning without an observation and clamps at zero', () => {
    const events = [ev(1, 'vehicle.arrived', { vehicleRef: 'a' }), ev(2, 'vehicle.service_started', { vehicleRef: 'a' }), ev(3, 'vehicle.service_started', { vehicleRef: 'b' })];
    expect(windowFromEvents(events, Q, T0 + 20 * MIN, 10 * MIN).queueLengthAtFrom).toBe(0);
    expect(windowFromEvents(events.slice(0, 1), Q, T0 + 20 * MIN, 10 * MIN).queueLengthAtFrom).toBe(1);
  });

  it('applies crossing-wide status to every queue but not another direction or class', () => {
    const wide = ev(1, 'crossing.status', { status: 'closed', until: new Date(T0 + 120 * MIN).toISOString(), reason: 'night' }, null);
    const otherDir = ev(2, 'crossing.status', { status: 'open' }, { direction: 'KG-KZ' });
    const otherClass = ev(3, 'lanes.changed', { lanesOpen: 9 }, { direction: 'KZ-KG', vehicleClass: 'car' });
    const w = windowFromEvents([wide, otherDir, otherClass], Q, T0 + 20 * MIN, 10 * MIN);
    expect(w.statusAtFrom).toMatchObject({ kind: 'T', status: 'closed', untilMs: T0 + 120 * MIN, reason: 'night' });
    expect(w.lanesAtFrom).toBeNull();
    expect(w.lastEventMs).toBe(T0 + MIN);
  });

  it('reports earlier arrivals and starts of vehicles resolved inside the window', () => {
    const events = [
      ev(1, 'vehicle.arrived', { vehicleRef: 'a' }),
      ev(2, 'vehicle.arrived', { vehicleRef: 'b' }),
      ev(3, 'vehicle.service_started', { vehicleRef: 'a' }),
      ev(12, 'vehicle.service_started', { vehicleRef: 'b' }),
      ev(13, 'vehicle.crossed', { vehicleRef: 'a' }),
    ];
    const w = windowFromEvents(events, Q, T0 + 20 * MIN, 10 * MIN);
    expect(w.earlierArrivals).toEqual({ b: T0 + 2 * MIN });
    expect(w.earlierStarts).toEqual({ a: T0 + 3 * MIN });
  });

  it('sorts records by time, then kind order, then eventId, whatever the input order', () => {
    const events = [ev(12, 'queue.observed', { queueLength: 1 }), ev(12, 'vehicle.service_started', { vehicleRef: 'a' }), ev(12, 'vehicle.arrived', { vehicleRef: 'b' }), ev(11, 'lanes.changed', { lanesOpen: 2 })];
    const w = windowFromEvents(events, Q, T0 + 20 * MIN, 10 * MIN);
    expect(w.records.map((r) => r.kind)).toEqual(['L', 'A', 'S', 'O']);
    expect(windowFromEvents([...events].reverse(), Q, T0 + 20 * MIN, 10 * MIN)).toEqual(w);
  });
});
