/**
 * Contract-v1 events the ingest journey posts (shared/events/v1.ts), built without k6 imports so the unit test
 * can validate them with the real schema and catalogue.
 *
 * A batch is made of whole vehicle lifecycles (arrived -> service_started -> crossed, or arrived -> abandoned),
 * so a long load run moves vehicles through the queues instead of growing them without bound. Event times sit
 * in the recent past: the API rejects events more than 5 minutes in the future, and event time drives the model.
 */

export interface QueueRef {
  crossingId: string;
  direction: string;
  vehicleClass: string;
}

interface QueueScoped {
  eventId: string;
  crossingId: string;
  occurredAt: string;
  direction: string;
  vehicleClass: string;
  source: string;
}

export type LoadEvent =
  | (QueueScoped & { type: 'vehicle.arrived' | 'vehicle.service_started' | 'vehicle.crossed' | 'vehicle.abandoned'; vehicleRef: string })
  | (QueueScoped & { type: 'queue.observed'; queueLength: number });

export const EVENT_SOURCE = 'k6-load-test';

/**
 * Identifies one batch across the whole test: the run (from setup), the VU and its iteration. Event ids and
 * vehicle refs derive from it, so no two events in a run share an id and a rerun never collides with the last.
 */
export interface BatchId {
  runId: string;
  vu: number;
  iteration: number;
}

/** Split `size` events into vehicle lifecycles of 3 (served) and 2 (abandoned) events. */
export function lifecyclePlan(size: number): { served: number; abandoned: number } {
  if (!Number.isInteger(size) || size < 2) throw new Error(`batch size must be an integer >= 2 (got ${size})`);
  const rem = size % 3;
  const triples = Math.floor(size / 3);
  if (rem === 0) return { served: triples, abandoned: 0 };
  if (rem === 2) return { served: triples, abandoned: 1 };
  // rem 1: trade one triple for two pairs (3 + 1 = 2 + 2).
  return { served: triples - 1, abandoned: 2 };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * `size` unique events for queues picked round-robin from `queues`, the vehicle lifecycles spread over the
 * 60 s before `nowMs`.
 */
export function buildBatch(id: BatchId, size: number, queues: readonly QueueRef[], nowMs: number): LoadEvent[] {
  if (queues.length === 0) throw new Error('no queues to post events for');
  const { served, abandoned } = lifecyclePlan(size);
  const prefix = `${id.runId}-${id.vu}-${id.iteration}`;
  const events: LoadEvent[] = [];
  const vehicles = served + abandoned;
  for (let v = 0; v < vehicles; v++) {
    const q = queues[(id.vu * 7919 + id.iteration * 31 + v) % queues.length] as QueueRef;
    const vehicleRef = `k6-${prefix}-${v}`;
    const base = nowMs - 60_000 + Math.floor((v * 50_000) / vehicles);
    const common = { crossingId: q.crossingId, direction: q.direction, vehicleClass: q.vehicleClass, source: EVENT_SOURCE, vehicleRef };
    events.push({ ...common, eventId: `${prefix}-${v}-a`, type: 'vehicle.arrived', occurredAt: iso(base) });
    if (v < served) {
      events.push({ ...common, eventId: `${prefix}-${v}-s`, type: 'vehicle.service_started', occurredAt: iso(base + 4_000) });
      events.push({ ...common, eventId: `${prefix}-${v}-c`, type: 'vehicle.crossed', occurredAt: iso(base + 8_000) });
    } else {
      events.push({ ...common, eventId: `${prefix}-${v}-x`, type: 'vehicle.abandoned', occurredAt: iso(base + 6_000) });
    }
  }
  return events;
}

/**
 * Distinctive queue lengths for the event-to-estimate probe. Consecutive probes alternate between two bands
 * 5000 apart, far above any real queue, so the probe can recognise its own observation in /waits even when a
 * few vehicles arrive or leave in between (the tolerance), and never mistakes the previous probe's value.
 */
export const PROBE_TOLERANCE = 1000;

export function probeQueueLength(probe: number): number {
  return 20_000 + (probe % 2) * 5_000 + (probe % 97);
}

/** Whether a published queue length shows the probe's observation (within the drift of arrivals and service). */
export const reflectsProbe = (queueLength: number, expected: number): boolean => Math.abs(queueLength - expected) < PROBE_TOLERANCE;

export function buildProbe(id: BatchId, q: QueueRef, nowMs: number): LoadEvent & { type: 'queue.observed' } {
  return {
    eventId: `${id.runId}-${id.vu}-${id.iteration}-probe`,
    type: 'queue.observed',
    crossingId: q.crossingId,
    direction: q.direction,
    vehicleClass: q.vehicleClass,
    occurredAt: iso(nowMs),
    source: EVENT_SOURCE,
    queueLength: probeQueueLength(id.iteration),
  };
}

/** Short random run id (base 36) for event ids; setup() makes one per test run and shares it with every VU. */
export function newRunId(random: () => number = Math.random, nowMs: number = Date.now()): string {
  return `k6${nowMs.toString(36)}${Math.floor(random() * 36 ** 6).toString(36)}`;
}
