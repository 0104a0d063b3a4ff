/**
 * The published estimate of one queue (crossing x direction x vehicle class). Written by the estimator to
 * Redis and published on `<prefix>.v1.estimates.<crossingId>.<direction>.<vehicleClass>`; read by the API's
 * in-process view, the SSE stream, webhooks and the dashboard. One schema, used at every boundary.
 */
import { z } from 'zod';
import { VehicleClassSchema } from './catalogue/schema.ts';

export const QueueStatusSchema = z.enum(['open', 'closed', 'restricted']);
export const EstimateMethodSchema = z.enum([
  /** queue-length model with online service rate, abandonment, closures; calibrated range */
  'queue-model',
  /** no live events yet: seed priors for this crossing, class and hour of week; wide range */
  'prior',
  /** model blended with realised waits (LES/HOL) because inputs look unreliable */
  'fusion',
  /** crossing closed; wait includes the time to the known reopening plus the drain time */
  'closed-known-reopening',
  /** crossing closed with no known reopening time: no wait figure */
  'closed-unknown-reopening',
]);

export const QueueEstimateSchema = z.object({
  crossingId: z.string(),
  direction: z.string(),
  vehicleClass: VehicleClassSchema,
  status: QueueStatusSchema,
  /** When the current status is expected to end (e.g. reopening time), ISO-8601 UTC. */
  statusUntil: z.string().nullable(),
  statusReason: z.string().nullable(),
  lanesOpen: z.number().int().min(0),
  queueLength: z.number().int().min(0),
  /** Median wait for a vehicle joining at `asOf`; null when it cannot be known (closed, no reopening time). */
  waitSeconds: z.number().min(0).nullable(),
  waitP10Seconds: z.number().min(0).nullable(),
  waitP90Seconds: z.number().min(0).nullable(),
  /** Event time of the newest event applied to this queue (ISO-8601 UTC), null before any event. */
  lastEventAt: z.string().nullable(),
  /** The event time the estimate refers to (ISO-8601 UTC). */
  asOf: z.string(),
  /** Wall-clock time the estimator computed it (ISO-8601 UTC). */
  updatedAt: z.string(),
  method: EstimateMethodSchema,
  /** True when asOf is past `staleAt`: the queue's source has been silent for longer than its traffic explains. */
  stale: z.boolean(),
  /**
   * From when the queue counts as stale if no further event arrives (ISO-8601 UTC): STALE_AFTER_SECONDS after
   * lastEventAt at the earliest, later for a quiet queue (see shared/estimation/staleness.ts). null before any
   * event. Absent in estimates stored before it existed: readers then use lastEventAt + STALE_AFTER_SECONDS.
   */
  staleAt: z.string().nullable().optional(),
  /** Monotonic per-queue revision, increases with each published change. */
  revision: z.number().int().min(0),
});
export type QueueEstimate = z.infer<typeof QueueEstimateSchema>;
export type QueueStatus = z.infer<typeof QueueStatusSchema>;
export type EstimateMethod = z.infer<typeof EstimateMethodSchema>;

export const queueKey = (q: { crossingId: string; direction: string; vehicleClass: string }): string =>
  `${q.crossingId}|${q.direction}|${q.vehicleClass}`;
