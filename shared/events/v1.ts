/**
 * The event contract, version 1: one zod schema per event type, a discriminated union, and the
 * catalogue-aware validator used at every boundary (HTTP ingest, producers, the estimator's consumer).
 * Types come from these schemas; there are no hand-written twins.
 */
import { z } from 'zod';
import { DirectionSchema, SlugSchema, VehicleClassSchema } from '../catalogue/schema.ts';
import type { Catalogue, VehicleClass } from '../catalogue/index.ts';

export const EVENT_SCHEMA_VERSION = 1;
/** How far in the future (by the receiver's clock) an event time may be. */
export const MAX_FUTURE_SKEW_MS = 5 * 60 * 1000;

const OFFSET_RE = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?/;

const PARTS_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/;

/**
 * A real calendar instant that Date.parse (how event time is read downstream) reads the same way. Date.parse
 * alone rolls 2026-02-30 over to March and accepts 24:00, so the calendar fields are checked first. This runs for
 * every event on the hot path, so it is plain arithmetic rather than a date library.
 */
function isRealInstant(v: string): boolean {
  const m = PARTS_RE.exec(v);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || Number(m[4]) > 23 || Number(m[5]) > 59) return false;
  if (day < 1 || day > daysInMonth(year, month)) return false;
  return Number.isFinite(Date.parse(v));
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
/** Days of a month (1-12) as `new Date(Date.UTC(year, month, 0)).getUTCDate()` tells, without a Date per event. */
function daysInMonth(year: number, month: number): number {
  if (month !== 2) return DAYS_IN_MONTH[month - 1]!;
  const y = year >= 0 && year <= 99 ? 1900 + year : year; // Date.UTC reads years 0-99 as 1900-1999
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
}

/** ISO-8601 instant that must carry an offset or Z; a local time without offset is ambiguous at a border. */
export const InstantSchema = z
  .string()
  .max(40, 'too long for an ISO-8601 timestamp')
  .superRefine((v, ctx) => {
    if (!ISO_RE.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 date-time like 2026-11-22T08:15:00+05:00' });
      return;
    }
    if (!OFFSET_RE.test(v)) {
      // "...T08:15:00 05:00": a '+' sent unencoded in a URL query string arrives as a space
      const plusAsSpace = / \d{2}(?::?\d{2})?$/.test(v);
      ctx.addIssue({
        code: 'custom',
        message: plusAsSpace
          ? "must include a UTC offset or Z; a '+' in a URL query string arrives as a space: send it as %2B (2026-11-22T08:15:00%2B05:00)"
          : 'must include a UTC offset or Z: a local time without offset is ambiguous',
      });
      return;
    }
    if (/[+-]\d{2}$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'the UTC offset must have minutes: +05:00 (or +0500), not +05' });
      return;
    }
    if (!isRealInstant(v)) ctx.addIssue({ code: 'custom', message: 'is not a valid date-time' });
  });

/** Control characters (C0 and DEL): an eventId travels as the NATS msgID header and a field of the store's records, where they cannot. */
const CONTROL_CHARS_RE = /[\u0000-\u001f\u007f]/; // eslint-disable-line no-control-regex
export const EventIdSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .refine((v) => !CONTROL_CHARS_RE.test(v), 'must not contain control characters (tab, newline, NUL ...)');
export const VehicleRefSchema = z.string().min(1, 'must not be empty').max(128, 'must be at most 128 characters');

const common = {
  eventId: EventIdSchema,
  crossingId: SlugSchema.max(64),
  occurredAt: InstantSchema,
  source: z.string().min(1).max(128).optional(),
};
const queueScoped = { ...common, direction: DirectionSchema, vehicleClass: VehicleClassSchema };

export const VehicleArrivedSchema = z.strictObject({ ...queueScoped, type: z.literal('vehicle.arrived'), vehicleRef: VehicleRefSchema.optional() });
export const VehicleServiceStartedSchema = z.strictObject({ ...queueScoped, type: z.literal('vehicle.service_started'), vehicleRef: VehicleRefSchema });
export const VehicleCrossedSchema = z.strictObject({ ...queueScoped, type: z.literal('vehicle.crossed'), vehicleRef: VehicleRefSchema });
export const VehicleAbandonedSchema = z.strictObject({ ...queueScoped, type: z.literal('vehicle.abandoned'), vehicleRef: VehicleRefSchema });
export const LanesChangedSchema = z.strictObject({
  ...queueScoped,
  type: z.literal('lanes.changed'),
  lanesOpen: z.number().int('must be an integer').min(0, 'must be >= 0').max(1000, 'must be <= 1000'),
});
export const QueueObservedSchema = z.strictObject({
  ...queueScoped,
  type: z.literal('queue.observed'),
  queueLength: z.number().int('must be an integer').min(0, 'must be >= 0').max(1_000_000, 'must be <= 1000000'),
});
export const CrossingStatusSchema = z.strictObject({
  ...common,
  type: z.literal('crossing.status'),
  status: z.enum(['open', 'closed', 'restricted']),
  until: InstantSchema.optional(),
  reason: z.string().max(500).optional(),
  direction: DirectionSchema.optional(),
  vehicleClass: VehicleClassSchema.optional(),
});

export const EVENT_TYPES = [
  'vehicle.arrived',
  'vehicle.service_started',
  'vehicle.crossed',
  'vehicle.abandoned',
  'lanes.changed',
  'queue.observed',
  'crossing.status',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const KezekEventSchema = z.discriminatedUnion('type', [
  VehicleArrivedSchema,
  VehicleServiceStartedSchema,
  VehicleCrossedSchema,
  VehicleAbandonedSchema,
  LanesChangedSchema,
  QueueObservedSchema,
  CrossingStatusSchema,
]);
export type KezekEvent = z.infer<typeof KezekEventSchema>;
export type VehicleEvent = z.infer<typeof VehicleArrivedSchema> | z.infer<typeof VehicleServiceStartedSchema> | z.infer<typeof VehicleCrossedSchema> | z.infer<typeof VehicleAbandonedSchema>;

// a Map, not an object literal: `type` is untrusted input ("__proto__", "constructor", ...)
const QUEUE_EVENT_FIELDS = new Map<string, { required: readonly string[]; optional: readonly string[] }>([
  ['vehicle.arrived', { required: [], optional: ['vehicleRef'] }],
  ['vehicle.service_started', { required: ['vehicleRef'], optional: [] }],
  ['vehicle.crossed', { required: ['vehicleRef'], optional: [] }],
  ['vehicle.abandoned', { required: ['vehicleRef'], optional: [] }],
  ['lanes.changed', { required: ['lanesOpen'], optional: [] }],
  ['queue.observed', { required: ['queueLength'], optional: [] }],
]);
const COMMON_REQUIRED = ['eventId', 'crossingId', 'occurredAt', 'type', 'direction', 'vehicleClass'] as const;
const SLUG_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const DIRECTION_RE = /^[A-Z]{2}-[A-Z]{2}$/;
const VEHICLE_CLASS_SET = new Set<string>(['truck', 'car', 'bus', 'pedestrian']);

const isText = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;
const isIntIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

/**
 * The hot path of `validateEvent`: true only for a queue-scoped event (vehicle.*, lanes.changed, queue.observed)
 * that KezekEventSchema certainly accepts unchanged - every field present, of the right type and within its
 * limits, no other field. Anything else (crossing.status, any doubt, any error) goes through zod, which gives the
 * precise issues. Every event of every producer passes here, so this is plain code instead of a schema walk
 * (zod was ~10 us of the estimator's and the ingest route's per-event CPU); test/unit/events-fast-path.test.ts
 * checks it never accepts what zod rejects.
 */
export function isCertainlyValidQueueEvent(x: Record<string, unknown>): boolean {
  const fields = typeof x.type === 'string' ? QUEUE_EVENT_FIELDS.get(x.type) : undefined;
  if (!fields) return false;
  let n = 0;
  for (const key in x) {
    if (!Object.prototype.hasOwnProperty.call(x, key)) return false;
    n += 1;
  }
  let expected = COMMON_REQUIRED.length + fields.required.length;
  for (const key of COMMON_REQUIRED) if (!Object.prototype.hasOwnProperty.call(x, key)) return false;
  for (const key of fields.required) if (!Object.prototype.hasOwnProperty.call(x, key)) return false;
  if (Object.prototype.hasOwnProperty.call(x, 'source')) {
    if (!isText(x.source, 1, 128)) return false;
    expected += 1;
  }
  for (const key of fields.optional) {
    if (Object.prototype.hasOwnProperty.call(x, key)) expected += 1;
  }
  if (n !== expected) return false; // an unknown field
  if (Object.getPrototypeOf(x) !== Object.prototype && Object.getPrototypeOf(x) !== null) return false;
  if (!isText(x.eventId, 1, 128) || CONTROL_CHARS_RE.test(x.eventId)) return false;
  if (!isText(x.crossingId, 1, 64) || !SLUG_RE.test(x.crossingId)) return false;
  if (!isText(x.occurredAt, 1, 40) || !ISO_RE.test(x.occurredAt) || !OFFSET_RE.test(x.occurredAt) || !isRealInstant(x.occurredAt)) return false;
  if (typeof x.direction !== 'string' || !DIRECTION_RE.test(x.direction)) return false;
  if (typeof x.vehicleClass !== 'string' || !VEHICLE_CLASS_SET.has(x.vehicleClass)) return false;
  if ('vehicleRef' in x && !isText(x.vehicleRef, 1, 128)) return false;
  if (x.type === 'lanes.changed' && !isIntIn(x.lanesOpen, 0, 1000)) return false;
  if (x.type === 'queue.observed' && !isIntIn(x.queueLength, 0, 1_000_000)) return false;
  return true;
}

export interface EventIssue {
  /** Field path inside the event, e.g. "occurredAt" or "direction". Empty for the whole event. */
  path: string;
  message: string;
}
export type ValidationResult = { ok: true; event: KezekEvent } | { ok: false; issues: EventIssue[] };

function formatPath(path: PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

/** zod's message of an issue, except a missing field, which zod reports as a type error ("expected string, received undefined"). */
export function issueMessage(i: { code: string; message: string }): string {
  return i.code === 'invalid_type' && /received undefined$/.test(i.message) ? 'is required' : i.message;
}

/**
 * The catalogue's checks of an event's crossing, direction and vehicle class, and of a lanes.changed's lanesOpen
 * against the class's lanesMax (per direction); fields of the wrong type are left to the schema (so this also runs on
 * an event the schema refused, for its well-formed fields).
 */
function catalogueIssues(ev: { type?: unknown; crossingId?: unknown; direction?: unknown; vehicleClass?: unknown; lanesOpen?: unknown }, catalogue: Catalogue): EventIssue[] {
  if (typeof ev.crossingId !== 'string') return [];
  const crossing = catalogue.get(ev.crossingId);
  if (!crossing) return [{ path: 'crossingId', message: `unknown crossing "${ev.crossingId}"` }];
  const issues: EventIssue[] = [];
  if (typeof ev.direction === 'string' && !(crossing.directions as readonly string[]).includes(ev.direction)) {
    issues.push({ path: 'direction', message: `"${ev.direction}" is not a direction of ${ev.crossingId} (use ${crossing.directions.join(' or ')})` });
  }
  if (typeof ev.vehicleClass === 'string' && !(crossing.vehicleClasses as readonly string[]).includes(ev.vehicleClass)) {
    issues.push({ path: 'vehicleClass', message: `${ev.crossingId} does not serve ${ev.vehicleClass} (serves ${crossing.vehicleClasses.join(', ')})` });
  }
  if (ev.type === 'lanes.changed' && typeof ev.lanesOpen === 'number' && typeof ev.vehicleClass === 'string') {
    // a count the site cannot have is a wrong report; taken as true, it would inflate the capacity of every estimate
    const lanesMax = catalogue.profile(ev.crossingId, ev.vehicleClass as VehicleClass)?.lanesMax;
    if (lanesMax !== undefined && ev.lanesOpen > lanesMax) {
      issues.push({ path: 'lanesOpen', message: `must be <= ${lanesMax}: ${ev.crossingId} has at most ${lanesMax} ${ev.vehicleClass} lane${lanesMax === 1 ? '' : 's'} per direction` });
    }
  }
  return issues;
}

/**
 * Validates an unknown value as a v1 event against the catalogue and the receiver's clock.
 * Structural errors come from zod (with field paths), and the crossing, its directions and classes from the catalogue
 * (both reported together); then the future-skew and retention rules are checked.
 */
export function validateEvent(
  input: unknown,
  ctx: {
    catalogue: Catalogue;
    now?: number;
    /** Refuse an occurredAt older than this (epoch ms) with `tooOldReason`: the ingest gateway's retention bound. */
    oldestMs?: number;
    tooOldReason?: string;
  },
): ValidationResult {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ path: '', message: 'event must be a JSON object' }] };
  }
  const parsed = isCertainlyValidQueueEvent(input as Record<string, unknown>)
    ? ({ success: true, data: { ...(input as KezekEvent) } } as const)
    : KezekEventSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      if (i.code === 'invalid_union' && i.path.length === 1 && i.path[0] === 'type') {
        return { path: 'type', message: `must be one of ${EVENT_TYPES.join(', ')}` };
      }
      if (i.code === 'unrecognized_keys') return { path: formatPath(i.path), message: `unknown field(s): ${i.keys.join(', ')}` };
      return { path: formatPath(i.path), message: issueMessage(i) };
    });
    // the catalogue's verdict on the fields that are well-formed, so a producer hears every problem at once
    const reported = new Set(issues.map((i) => i.path));
    for (const i of catalogueIssues(input as Record<string, unknown>, ctx.catalogue)) if (!reported.has(i.path)) issues.push(i);
    return { ok: false, issues };
  }
  const ev = parsed.data;
  const issues = catalogueIssues(ev, ctx.catalogue);
  const now = ctx.now ?? Date.now();
  const t = Date.parse(ev.occurredAt);
  if (t - now > MAX_FUTURE_SKEW_MS) issues.push({ path: 'occurredAt', message: 'is more than 5 minutes in the future' });
  if (t < Date.UTC(2000, 0, 1)) issues.push({ path: 'occurredAt', message: 'is before 2000-01-01' });
  else if (ctx.oldestMs !== undefined && t < ctx.oldestMs) issues.push({ path: 'occurredAt', message: ctx.tooOldReason ?? `is before ${new Date(ctx.oldestMs).toISOString()}` });
  if (ev.type === 'crossing.status' && ev.until !== undefined && Date.parse(ev.until) <= t) {
    issues.push({ path: 'until', message: 'must be after occurredAt' });
  }
  return issues.length ? { ok: false, issues } : { ok: true, event: ev };
}

/** Event time in epoch milliseconds. */
export const eventTimeMs = (ev: Pick<KezekEvent, 'occurredAt'>): number => Date.parse(ev.occurredAt);
