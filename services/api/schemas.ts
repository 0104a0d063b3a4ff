/**
 * Zod schemas of every route's params, query and body, and documentation schemas of responses. Query objects
 * are strict: an unknown parameter is a 400, not silently ignored.
 */
import { z } from 'zod';
import { DirectionSchema, SlugSchema, VehicleClassSchema } from '../../shared/catalogue/schema.ts';
import { InstantSchema } from '../../shared/events/v1.ts';
import { QueueEstimateSchema, QueueStatusSchema, EstimateMethodSchema } from '../../shared/estimates.ts';
import { NO_WAIT_REASONS } from '../../shared/forecast/fluid.ts';

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

const parseUrl = (u: string): URL | undefined => {
  try {
    return new URL(u);
  } catch {
    return undefined;
  }
};

/**
 * Why a webhook URL carrying credentials (`https://user:pass@host/`) is refused: they would be stored, shown back
 * on every read of the subscription and written wherever URLs are (proxy and receiver access logs). Receivers
 * authenticate Kezek by the Kezek-Signature header, computed with the subscription's own secret. The message never
 * repeats the URL, so the password does not reach the error (or the logs of whoever prints it).
 */
export const WEBHOOK_URL_CREDENTIALS_MESSAGE =
  'must not contain credentials (user:password@host): they would be stored, shown back and written to access logs; ' +
  "authenticate deliveries by verifying the Kezek-Signature header with the subscription's secret instead";

export const SubscriptionBodySchema = z.strictObject({
  url: z
    .string()
    .max(2000)
    .refine((u) => {
      const p = parseUrl(u)?.protocol;
      return p === 'http:' || p === 'https:';
    }, 'must be an http(s) URL')
    .refine((u) => {
      const url = parseUrl(u);
      return url === undefined || (url.username === '' && url.password === '');
    }, WEBHOOK_URL_CREDENTIALS_MESSAGE)
    .meta({
      description: "The receiver: an http(s) URL of a public address, without credentials (user:password@); deliveries are authenticated by the Kezek-Signature header instead",
      example: 'https://ops.example.kz/kezek-hook',
    }),
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

/** What a forecast started from: the queue's live estimate when there is one (routes/forecast.ts `modelFor`). */
export const ForecastBasedOnSchema = z.object({
  estimateAsOf: z.string().nullable().meta({ description: "asOf of the live estimate the model starts from; null when the queue has none yet (it starts empty, from the catalogue's status)" }),
  revision: z.number().int().nullable().meta({ description: 'revision of that estimate' }),
  queueLength: z.number().meta({ description: 'queue length the model starts from' }),
  status: QueueStatusSchema,
  statusUntil: z.string().nullable().meta({ description: 'known end of the current status (e.g. reopening time), respected by the model' }),
});
const forecastCommon = {
  kind: z.literal('forecast').meta({ description: 'a model forecast, not a measurement' }),
  crossingId: z.string(),
  direction: z.string(),
  vehicleClass: VehicleClassSchema,
  generatedAt: z.string().meta({ description: 'when the forecast was made (the "now" it starts from)' }),
  method: z.literal('fluid'),
  basedOn: ForecastBasedOnSchema,
  assumptions: z.array(z.string()).meta({ description: 'what the model assumes, in words' }),
};
const forecastWait = {
  waitSeconds: z.number().nullable().meta({ description: 'median forecast wait for a vehicle joining then; null when it cannot be known (closed with an unknown reopening, or beyond the horizon)' }),
  waitP10Seconds: z.number().nullable(),
  waitP90Seconds: z.number().nullable(),
};

export const ForecastResponseSchema = z.object({
  ...forecastCommon,
  arriveAt: z.string().meta({ description: 'the instant forecast (arriveAt, or now when it was up to 5 minutes in the past)' }),
  ...forecastWait,
  queueLengthAtArrival: z.number(),
  capacityPerHourAtArrival: z.number().meta({ description: 'vehicles per hour the open lanes are forecast to serve at arriveAt' }),
  arrivalsPerHourAtArrival: z.number().meta({ description: 'vehicles per hour forecast to join at arriveAt (seed profile)' }),
});

export const BestTimeSlotSchema = z.object({
  from: z.string(),
  to: z.string(),
  rank: z.number().int().meta({ description: '1 = the best slot' }),
  ...forecastWait,
  queueLength: z.number().meta({ description: 'forecast queue length at `from`' }),
});
/** Why best-time leaves hours unranked (shared/forecast/fluid.ts `noWaitReason`). */
export const NoWaitReasonSchema = z.enum(NO_WAIT_REASONS);
export const BestTimeResponseSchema = z.object({
  ...forecastCommon,
  within: z.string().meta({ example: '24h' }),
  timeZone: z.string().meta({ description: "the crossing's local IANA zone (slots are its clock hours)", example: 'Asia/Almaty' }),
  slots: z.array(BestTimeSlotSchema).meta({ description: 'the hours with a forecast wait, ranked best first; empty when no hour has one (no good time to go)' }),
  unavailable: z
    .object({
      reason: NoWaitReasonSchema,
      message: z.string(),
      slots: z.array(z.object({ from: z.string(), to: z.string() })).meta({ description: 'in time order' }),
    })
    .nullable()
    .meta({ description: 'the hours with no wait figure, listed apart and never ranked, and why; null when every hour has one' }),
});
export { QueueEstimateSchema };
