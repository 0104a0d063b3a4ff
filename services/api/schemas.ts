/**
 * Zod schemas of every route's params, query and body, and documentation schemas of responses. Query objects
 * are strict: an unknown parameter is a 400, not silently ignored.
 */
import { z } from 'zod';
import { DirectionSchema, SlugSchema, VehicleClassSchema } from '../../shared/catalogue/schema.ts';
import { InstantSchema } from '../../shared/events/v1.ts';
import { QueueEstimateSchema, QueueStatusSchema, EstimateMethodSchema } from '../../shared/estimates.ts';

export const ErrorBodySchema = z.object({
  error: z.string().meta({ example: 'bad_request' }),
  message: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string(), index: z.number().int().optional() })).optional(),
});

export const CrossingParamsSchema = z.strictObject({ id: SlugSchema.max(64).meta({ example: 'korday' }) });
export const SubscriptionParamsSchema = z.strictObject({ id: z.string().regex(/^sub_[A-Za-z0-9_-]{8,40}$/, 'must be a subscription id like sub_...') });

const queueFilter = {
  direction: DirectionSchema.optional().meta({ example: 'KZ-KG' }),
  vehicleClass: VehicleClassSchema.optional().meta({ example: 'truck' }),
};

export const EmptyQuerySchema = z.strictObject({});
export const WaitsQuerySchema = z.strictObject({
  ...queueFilter,
  asOf: InstantSchema.optional().meta({ description: 'Estimate as of this instant (history); must not be in the future', example: '2026-11-22T08:00:00Z' }),
});

/** History steps: multiples of the queue store's 5-minute history bucket (STORE_DEFAULTS.bucketMs); a finer one cannot be answered. */
export const HISTORY_STEPS = { '5m': 300_000, '15m': 900_000, '1h': 3_600_000 } as const;
export const HISTORY_MAX_SPAN_MS = 31 * 24 * 3600_000;
export const HISTORY_MAX_POINTS = 5000;

export const HistoryQuerySchema = z.strictObject({
  direction: DirectionSchema.meta({ example: 'KZ-KG' }),
  vehicleClass: VehicleClassSchema.meta({ example: 'truck' }),
  from: InstantSchema.meta({ example: '2026-11-21T00:00:00Z' }),
  to: InstantSchema.optional().meta({ description: 'Default: now; a later time is cut to now', example: '2026-11-22T00:00:00Z' }),
  step: z.enum(Object.keys(HISTORY_STEPS) as [keyof typeof HISTORY_STEPS, ...(keyof typeof HISTORY_STEPS)[]]).default('15m'),
  tz: z.enum(['utc', 'local']).default('utc').meta({ description: "'local' adds tLocal in the crossing's time zone" }),
});

const DURATION_RE = /^(\d{1,3})(m|h)$/;
export const parseDurationMs = (v: string): number => {
  const m = DURATION_RE.exec(v);
  if (!m) return NaN;
  return Number(m[1]) * (m[2] === 'h' ? 3_600_000 : 60_000);
};

export const ForecastQuerySchema = z.strictObject({
  direction: DirectionSchema.meta({ example: 'KZ-KG' }),
  vehicleClass: VehicleClassSchema.meta({ example: 'truck' }),
  arriveAt: InstantSchema.meta({ description: 'When you expect to join the queue (at most 7 days ahead)', example: '2026-11-22T14:00:00+05:00' }),
});

export const BestTimeQuerySchema = z.strictObject({
  direction: DirectionSchema.meta({ example: 'KZ-KG' }),
  vehicleClass: VehicleClassSchema.meta({ example: 'truck' }),
  within: z
    .string()
    .regex(DURATION_RE, 'must be a duration like 24h or 90m')
    .refine((v) => parseDurationMs(v) >= 3_600_000 && parseDurationMs(v) <= 72 * 3_600_000, 'must be between 1h and 72h')
    .default('24h'),
});

export const StreamQuerySchema = z.strictObject({
  crossingId: SlugSchema.max(64).optional().meta({ example: 'korday' }),
  ...queueFilter,
});

export const SubscriptionBodySchema = z.strictObject({
  url: z
    .string()
    .max(2000)
    .refine((u) => {
      try {
        const p = new URL(u).protocol;
        return p === 'http:' || p === 'https:';
      } catch {
        return false;
      }
    }, 'must be an http(s) URL')
    .meta({ example: 'https://ops.example.kz/kezek-hook' }),
  crossingId: SlugSchema.max(64).meta({ example: 'korday' }),
  direction: DirectionSchema.optional(),
  vehicleClass: VehicleClassSchema.optional(),
  waitAboveSeconds: z.number().int().min(0).max(7 * 86400).optional().meta({ example: 7200 }),
  onClosure: z.boolean().optional(),
});

// ---- response documentation ----

export const QueueWaitSchema = z.object({
  direction: z.string(),
  vehicleClass: VehicleClassSchema,
  status: QueueStatusSchema,
  statusUntil: z.string().nullable(),
  statusReason: z.string().nullable(),
  lanesOpen: z.number().nullable(),
  queueLength: z.number().nullable(),
  waitSeconds: z.number().nullable(),
  waitP10Seconds: z.number().nullable(),
  waitP90Seconds: z.number().nullable(),
  lastEventAt: z.string().nullable(),
  updatedAt: z.string().nullable(),
  method: EstimateMethodSchema.nullable(),
  stale: z.boolean().meta({ description: 'True when the source has been silent for longer than the queue\'s usual traffic explains (now is past staleAt).' }),
  staleAt: z.string().nullable().meta({ description: 'From when the queue counts as stale unless an event arrives: STALE_AFTER_SECONDS after lastEventAt at the earliest, later for a quiet queue (at night a queue with a few vehicles an hour may be silent for an hour without anything being wrong). null before any event.' }),
  revision: z.number().nullable(),
});

export const WaitsResponseSchema = z.object({ crossingId: z.string(), asOf: z.string(), queues: z.array(QueueWaitSchema) });
export const BulkWaitsResponseSchema = z.object({
  asOf: z.string(),
  crossings: z.array(z.object({ crossingId: z.string(), status: QueueStatusSchema, statusUntil: z.string().nullable(), queues: z.array(QueueWaitSchema) })),
});
export const IngestResponseSchema = z.object({ accepted: z.number().int(), duplicates: z.number().int() });
export { QueueEstimateSchema };
