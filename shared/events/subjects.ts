/**
 * NATS subject and stream names. Subjects encode version, crossing and direction so consumers can filter
 * and partition: `<prefix>.v1.events.<crossingId>.<direction|all>`.
 * `prefix` (KEZEK_PREFIX) namespaces a deployment so tests and several installs can share one server.
 */
import type { KezekEvent } from './v1.ts';

export const ALL_DIRECTIONS_TOKEN = 'all';

/**
 * An events message holds one event (a JSON object) or a batch: a JSON array of 1..MAX_EVENTS_PER_MESSAGE events
 * that all belong on the message's subject (docs/events.md). The ingest gateway publishes POSTed batches so.
 */
export const MAX_EVENTS_PER_MESSAGE = 100;

export function subjects(prefix = 'kezek') {
  const P = prefix.toUpperCase();
  return {
    /** JetStream stream holding every contract event (the durable record). */
    eventsStream: `${P}_EVENTS`,
    eventsAll: `${prefix}.v1.events.>`,
    eventsFor: (crossingId: string, direction?: string) => `${prefix}.v1.events.${crossingId}.${direction ?? ALL_DIRECTIONS_TOKEN}`,
    eventsOfCrossing: (crossingId: string) => `${prefix}.v1.events.${crossingId}.>`,
    /** The crossing token of an events subject (the inverse of eventsFor); undefined for another subject. */
    crossingOfEventsSubject: (subject: string) => (subject.startsWith(`${prefix}.v1.events.`) ? subject.slice(`${prefix}.v1.events.`.length).split('.')[0] : undefined),
    /** Estimate changes, one subject per queue; kept in a short-retention stream so SSE clients can resume. */
    estimatesStream: `${P}_ESTIMATES`,
    estimatesAll: `${prefix}.v1.estimates.>`,
    estimatesFor: (crossingId: string, direction: string, vehicleClass: string) => `${prefix}.v1.estimates.${crossingId}.${direction}.${vehicleClass}`,
    estimatesOfCrossing: (crossingId: string) => `${prefix}.v1.estimates.${crossingId}.>`,
    /** Poison messages with the reason, for an operator to inspect and replay. */
    dlqStream: `${P}_DLQ`,
    dlqAll: `${prefix}.v1.dlq.>`,
    dlqFor: (crossingId: string) => `${prefix}.v1.dlq.${/^[a-z0-9-]{1,64}$/.test(crossingId) ? crossingId : 'unknown'}`,
    /** Durable consumer name of the estimator. */
    estimatorDurable: `${prefix}-estimator`,
  } as const;
}
export type Subjects = ReturnType<typeof subjects>;

export const subjectForEvent = (s: Subjects, ev: KezekEvent): string => s.eventsFor(ev.crossingId, ev.direction);
