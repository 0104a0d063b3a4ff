/**
 * The reference (oracle) implementation of a QueueWindow, built from a plain list of contract events in
 * TypeScript. The Redis store must return exactly this for the same SET of events; the model's unit tests
 * and the in-process accuracy benchmark use it directly.
 *
 * Semantics (see window.ts):
 * - an event applies to a queue when crossingId matches and its direction / vehicleClass match or are absent
 *   (a crossing.status without direction/class applies to every queue of the crossing);
 * - duplicates (same eventId) count once; events with time > asOfMs are ignored;
 * - queueLengthAtFrom = newest queue.observed with t <= fromMs (last in record order), plus arrivals minus service
 *   starts minus abandonments with obs.t < t <= fromMs, clamped at 0 once at the end; with no observation, counted
 *   from the beginning. Records at the observation's own timestamp sort before it (A<S<C<X<L<O<T) and are taken as
 *   already included in the observed count;
 * - earlierArrivals: for each S in the window with a ref, the newest A of that ref with t <= S.t in record order,
 *   when that A is at or before fromMs; earlierStarts likewise for C in the window and the newest S of the ref.
 */
import type { KezekEvent } from '../events/index.ts';
import type { QueueRef } from '../queue-store/api.ts';
import { compareRecords, type QueueRecord, type QueueWindow } from './window.ts';

/** The window record for an event, or null when the event does not apply to the queue. */
export function recordForEvent(ev: KezekEvent, queue: QueueRef): QueueRecord | null {
  if (ev.crossingId !== queue.crossingId) return null;
  if (ev.direction !== undefined && ev.direction !== queue.direction) return null;
  if (ev.vehicleClass !== undefined && ev.vehicleClass !== queue.vehicleClass) return null;
  const t = Date.parse(ev.occurredAt);
  const base = { t, eventId: ev.eventId };
  switch (ev.type) {
    case 'vehicle.arrived':
      return ev.vehicleRef === undefined ? { ...base, kind: 'A' } : { ...base, kind: 'A', ref: ev.vehicleRef };
    case 'vehicle.service_started':
      return { ...base, kind: 'S', ref: ev.vehicleRef };
    case 'vehicle.crossed':
      return { ...base, kind: 'C', ref: ev.vehicleRef };
    case 'vehicle.abandoned':
      return { ...base, kind: 'X', ref: ev.vehicleRef };
    case 'lanes.changed':
      return { ...base, kind: 'L', value: ev.lanesOpen };
    case 'queue.observed':
      return { ...base, kind: 'O', value: ev.queueLength };
    case 'crossing.status': {
      const rec: QueueRecord = { ...base, kind: 'T', status: ev.status };
      if (ev.until !== undefined) rec.untilMs = Date.parse(ev.until);
      if (ev.reason !== undefined) rec.reason = ev.reason;
      return rec;
    }
  }
}

/** Records of the events that apply to the queue, de-duplicated by eventId, in record order. */
export function recordsFromEvents(events: readonly KezekEvent[], queue: QueueRef): QueueRecord[] {
  const seen = new Set<string>();
  const all: QueueRecord[] = [];
  for (const ev of events) {
    const rec = recordForEvent(ev, queue);
    if (!rec || seen.has(rec.eventId)) continue;
    seen.add(rec.eventId);
    all.push(rec);
  }
  return all.sort(compareRecords);
}

export function windowFromEvents(events: readonly KezekEvent[], queue: QueueRef, asOfMs: number, lookbackMs: number): QueueWindow {
  return windowFromRecords(recordsFromEvents(events, queue), queue, asOfMs, lookbackMs);
}

/**
 * The same from records already in record order and de-duplicated (see recordsFromEvents); records after asOfMs
 * are ignored. Lets a benchmark convert a day of events once and cut windows at many times.
 */
export function windowFromRecords(sorted: readonly QueueRecord[], queue: QueueRef, asOfMs: number, lookbackMs: number): QueueWindow {
  const fromMs = asOfMs - lookbackMs;
  let lo = 0;
  let end = sorted.length;
  while (lo < end) {
    const mid = (lo + end) >> 1;
    if (sorted[mid]!.t <= asOfMs) lo = mid + 1;
    else end = mid;
  }
  const all = sorted.slice(0, end);

  const before = all.filter((r) => r.t <= fromMs);
  const records = all.filter((r) => r.t > fromMs);

  let lastObs: QueueRecord | undefined;
  let lanesAtFrom: number | null = null;
  let statusAtFrom: QueueRecord | null = null;
  for (const r of before) {
    if (r.kind === 'O') lastObs = r;
    else if (r.kind === 'L') lanesAtFrom = r.value ?? null;
    else if (r.kind === 'T') statusAtFrom = r;
  }
  let count = lastObs?.value ?? 0;
  for (const r of before) {
    if (lastObs && r.t <= lastObs.t) continue;
    if (r.kind === 'A') count += 1;
    else if (r.kind === 'S' || r.kind === 'X') count -= 1;
  }

  // Newest A / S per ref in record order, for refs resolved inside the window.
  const lastA = new Map<string, number>();
  const lastS = new Map<string, number>();
  const earlierArrivals: Record<string, number> = {};
  const earlierStarts: Record<string, number> = {};
  for (const r of all) {
    if (r.ref === undefined) continue;
    if (r.kind === 'A') lastA.set(r.ref, r.t);
    else if (r.kind === 'S') {
      const a = lastA.get(r.ref);
      if (r.t > fromMs && a !== undefined && a <= fromMs) earlierArrivals[r.ref] = a;
      lastS.set(r.ref, r.t);
    } else if (r.kind === 'C') {
      const s = lastS.get(r.ref);
      if (r.t > fromMs && s !== undefined && s <= fromMs) earlierStarts[r.ref] = s;
    }
  }

  return {
    queue: { crossingId: queue.crossingId, direction: queue.direction, vehicleClass: queue.vehicleClass },
    asOfMs,
    fromMs,
    queueLengthAtFrom: Math.max(0, count),
    lanesAtFrom,
    statusAtFrom,
    earlierArrivals,
    earlierStarts,
    records,
    lastEventMs: all.length ? all[all.length - 1]!.t : null,
  };
}
