/**
 * The exchange format between the queue store (Redis) and the estimation model.
 *
 * The store keeps, per queue, every applied event as a compact record indexed by EVENT time, plus folded
 * counts for what has been trimmed. For an estimate "as of T" it returns a QueueWindow: the state at the start
 * of a lookback window and every record in (fromMs, asOfMs]. The model (shared/estimation/model.ts) derives
 * everything else (service rate, abandonment, realised waits, LES/HOL, calibration) from it, deterministically.
 * Because a window is a function of the SET of events with time <= asOf, estimates do not depend on delivery
 * order, duplicates or the wall clock, and nothing after asOf leaks into an estimate.
 *
 * `windowFromEvents` in ./reference-window.ts builds the same structure from a plain event list in TypeScript:
 * the oracle the Lua implementation is tested against, and what the model's unit tests use.
 */
import type { QueueRef } from '../queue-store/api.ts';

/** A: arrived, S: service started, C: crossed, X: abandoned, L: lanes changed, O: queue observed, T: status. */
export type RecordKind = 'A' | 'S' | 'C' | 'X' | 'L' | 'O' | 'T';

export interface QueueRecord {
  /** Event time, epoch ms. */
  t: number;
  kind: RecordKind;
  eventId: string;
  /** Pseudonymised vehicle ref (A, S, C, X) when known. */
  ref?: string;
  /** L: lanesOpen; O: queueLength. */
  value?: number;
  /** T only. A status event without direction/class applies to every queue of the crossing. */
  status?: 'open' | 'closed' | 'restricted';
  untilMs?: number;
  reason?: string;
}

export interface QueueWindow {
  queue: QueueRef;
  asOfMs: number;
  fromMs: number;
  /** Vehicles waiting at fromMs (derived by the store from the newest observation <= fromMs and counts since). */
  queueLengthAtFrom: number;
  /** Latest lanes.changed value at or before fromMs (null if none ever). */
  lanesAtFrom: number | null;
  /** Latest status record at or before fromMs (queue-scoped or crossing-wide), or null. */
  statusAtFrom: QueueRecord | null;
  /** Arrival time of each vehicle (by ref) that started service in the window but arrived before fromMs. */
  earlierArrivals: Record<string, number>;
  /** Service start time of each vehicle (by ref) that crossed in the window but started service before fromMs. */
  earlierStarts: Record<string, number>;
  /** Every record with fromMs < t <= asOfMs, sorted by (t, kind order A<S<C<X<L<O<T, eventId). */
  records: QueueRecord[];
  /** Event time of the newest record <= asOfMs applied to this queue (including crossing-wide status), or null. */
  lastEventMs: number | null;
}

export const RECORD_KIND_ORDER: Record<RecordKind, number> = { A: 0, S: 1, C: 2, X: 3, L: 4, O: 5, T: 6 };

export function compareRecords(a: QueueRecord, b: QueueRecord): number {
  return a.t - b.t || RECORD_KIND_ORDER[a.kind] - RECORD_KIND_ORDER[b.kind] || (a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0);
}
