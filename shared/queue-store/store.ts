/**
 * The typed wrapper around the queue store's Redis state: the only code that calls the Lua scripts in ./lua.
 * Writes are atomic script calls: queue events applied in the same tick are sent per crossing as ONE apply-events
 * call (each event applied on its own terms and settled by its own result), a crossing.status is one apply-status
 * call, a published estimate one write-estimate call; the window read is one read-window call. Lua return codes
 * become typed errors in `replyError`. Implements QueueReader (./api.ts) for the API.
 */
import { ReplyError, type Redis } from 'ioredis';
import { z } from 'zod';
import type { KezekEvent } from '../events/index.ts';
import { QueueEstimateSchema, queueKey, type QueueEstimate, type QueueStatus } from '../estimates.ts';
import { VehicleClassSchema } from '../catalogue/schema.ts';
import { compareRecords, type QueueRecord, type QueueWindow, type RecordKind } from '../estimation/window.ts';
import type { HistoryPoint, QueueReader, QueueRef } from './api.ts';
import { createKeys, statusScope, type Keys, type StoredKind } from './keys.ts';
import { callScript, loadScripts, pipelined } from './scripts.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const STORE_DEFAULTS = {
  /** Records, eventIds and the per-vehicle index are kept this long behind the queue's / crossing's newest event. */
  retentionMs: 7 * DAY,
  /** History buckets are kept this long behind the queue's newest event. */
  historyRetentionMs: 30 * DAY,
  /** Resolution of the history series. */
  bucketMs: 5 * MINUTE,
  /** Default lookback of a window. */
  lookbackMs: 6 * HOUR,
  /** A window never holds more records than this; its lookback is halved until it fits. */
  maxWindowRecords: 20_000,
  /**
   * Records kept from the last window read of each queue, in all (~0.3 kB of heap each with their strings): enough
   * for the busy queues of the catalogue, small beside the process (the growth bench's 72 queues hold 12-75k
   * records in their 6-hour windows depending on the time of day).
   */
  windowCacheRecords: 30_000,
  /**
   * A kept window read again within this long is not dropped to make room for another (see keepWindow): under the
   * refresher's round robin (each busy queue about once per second under load) the kept set stays put.
   */
  windowCacheIdleMs: 60_000,
} as const;

export type QueueStoreErrorCode =
  /** Older than the crossing's newest event minus the retention: cannot be applied without breaking counts. */
  | 'TOO_LATE'
  /** The eventId was applied before with a different event time. */
  | 'EVENT_ID_CONFLICT'
  /** A field the store cannot encode (control characters in an eventId, '|' in a vehicle ref). */
  | 'INVALID_RECORD'
  /** A window was asked for before the retention boundary. */
  | 'OUT_OF_RETENTION'
  /** estimateAsOf without a model. */
  | 'NO_MODEL'
  /** A Lua reply or stored value did not have the expected shape. */
  | 'BAD_REPLY'
  | 'BAD_ARGUMENT';

export class QueueStoreError extends Error {
  constructor(
    readonly code: QueueStoreErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'QueueStoreError';
  }
}

/** Turns a window into an estimate (the estimator wraps shared/estimation's model with its context). */
export type EstimateModel = (window: QueueWindow) => QueueEstimate;

export interface QueueStoreOptions {
  redis: Redis;
  /** KEZEK_PREFIX. */
  prefix: string;
  retentionMs?: number;
  historyRetentionMs?: number;
  bucketMs?: number;
  lookbackMs?: number;
  maxWindowRecords?: number;
  /**
   * Records kept from the last window read of each queue (readLatestWindow), so the next read only fetches what
   * came after it; a window that would take the total over this replaces only windows not read for
   * `windowCacheIdleMs` (least recently read first), and is not kept when that does not make room (its next read is
   * a whole one). 0 = no delta reads.
   */
  windowCacheRecords?: number;
  /** See windowCacheRecords. 0 = plain LRU (any kept window may be dropped for a new one). */
  windowCacheIdleMs?: number;
  /** Needed by estimateAsOf. */
  model?: EstimateModel;
}

export type ApplyOutcome = 'applied' | 'duplicate';

export interface WriteEstimateResult {
  written: boolean;
  /** The stored revision (the new one when written). */
  revision: number;
  estimate: QueueEstimate;
}

export interface QueueStore extends QueueReader {
  readonly keys: Keys;
  readonly options: Readonly<Required<Omit<QueueStoreOptions, 'redis' | 'prefix' | 'model'>>>;
  /**
   * Applies one validated event (vehicle refs already pseudonymised) atomically. Throws QueueStoreError. Queue
   * events of one crossing applied in the same tick share one script call; each resolves with its own outcome
   * once that call returned.
   */
  applyEvent(ev: KezekEvent): Promise<ApplyOutcome>;
  /** The QueueWindow as of asOfMs; fromMs = asOfMs - lookbackMs, later when clamped by retention or the record cap. */
  readWindow(queue: QueueRef, asOfMs: number, lookbackMs?: number): Promise<QueueWindow>;
  /**
   * readWindow as of `lastEventMs(queue)`, in one call; null when the queue has no event. The records of the last
   * such read of the queue are kept (`windowCacheRecords`): the next read fetches only what came after it, unless
   * something was inserted below it since (a late event, lost data), in which case it reads the whole window again.
   */
  readLatestWindow(queue: QueueRef, lookbackMs?: number): Promise<QueueWindow | null>;
  /** Drops the kept windows (a rebuild; another instance took a partition). Never needed for correctness. */
  clearWindowCache(): void;
  /** readLatestWindow calls so far that read the whole window, those that read only what was new, and the records kept. */
  windowReads(): { full: number; delta: number; keptRecords: number };
  /** apply-events calls sent so far and the queue events they carried (events per call: how well the tick batches). */
  applyCalls(): { calls: number; events: number };
  /**
   * Stores the latest published estimate; the revision is assigned here (previous + 1). Not written when older (by
   * asOf) than the stored one. `seed: true` writes a cold-start estimate only if the queue has none; any later
   * published estimate replaces a seed. `minRevision`: the new revision is above it (revisions stay monotonic for
   * subscribers after Redis lost its data).
   */
  writeEstimate(estimate: QueueEstimate, opts?: { seed?: boolean; minRevision?: number }): Promise<WriteEstimateResult>;
  readEstimate(queue: QueueRef): Promise<QueueEstimate | null>;
  /** Newest event time applied to the queue, including statuses of the crossing that apply to it. */
  lastEventMs(queue: QueueRef): Promise<number | null>;
  markInitialised(): Promise<void>;
  /**
   * The ack floor kept for a consumer while it is deleted and re-created at it: the single consumer's (no crossing)
   * or a crossing's partition consumer's. See services/estimator/consumer.ts.
   */
  consumerFloor(crossingId?: string): ConsumerFloorKeeper;
}

/**
 * A consumer's kept ack floor in this Redis. `read` gives undefined for none, and for a stored value that is not a
 * floor (the consumer then starts from the first event: slow, never lossy).
 */
export interface ConsumerFloorKeeper {
  read(): Promise<ConsumerFloor | undefined>;
  keep(floor: ConsumerFloor): Promise<void>;
  drop(): Promise<void>;
}

/** A consumer's ack floor, with the identity of the stream it counts in (see QueueStore.consumerFloor). */
export interface ConsumerFloor {
  streamSeq: number;
  /** The stream's creation time: a stream deleted and made again starts its sequences over. */
  streamCreated: string;
}

/** Queue events of one crossing per apply-events call at most (bounds one script's run time in Redis). */
export const MAX_APPLY_BATCH = 64;
const CONTROL_RE = /[\u0000-\u001f]/; // eslint-disable-line no-control-regex
const SEP = '\u001f';
/** Between the fields of apply-events' packed events (ARGV[4]); CONTROL_RE keeps it out of eventIds and refs. */
const FIELD_SEP = '\u001e';

/** The one mapping of Lua status codes to outcomes and typed errors. */
function replyError(script: string, code: number, arg: unknown, ctx: Record<string, unknown>): QueueStoreError | null {
  switch (code) {
    case 0:
    case 1:
      return null;
    case 2:
      return new QueueStoreError('EVENT_ID_CONFLICT', `eventId was applied before with another event time (${new Date(Number(arg)).toISOString()})`, { ...ctx, storedMs: Number(arg) });
    case 3:
      return new QueueStoreError('TOO_LATE', `event is older than the retention window (cutoff ${new Date(Number(arg)).toISOString()})`, { ...ctx, cutoffMs: Number(arg) });
    case 4:
      return new QueueStoreError('OUT_OF_RETENTION', `window start is before the retention boundary ${new Date(Number(arg)).toISOString()}`, { ...ctx, boundaryMs: Number(arg) });
    default:
      return new QueueStoreError('BAD_REPLY', `${script} returned unknown code ${code}`, ctx);
  }
}

/** A status reply of the apply scripts: [code] or [code, number]. */
function isCodeReply(r: unknown): r is [number, number?] {
  return Array.isArray(r) && (r.length === 1 || r.length === 2) && Number.isInteger(r[0]) && (r.length === 1 || typeof r[1] === 'number');
}
type Flat = (string | number)[];
type WindowReply =
  | [5]
  | [4, number]
  | [0, number, number, number, number, number, number, string, Flat, Flat, string, Flat, 0 | 1, Flat];
const isFlat = (a: unknown): a is Flat => Array.isArray(a) && a.every((x) => typeof x === 'string' || typeof x === 'number');
/** read-window's reply, checked by hand (a schema parse was a visible share of a refresh's CPU); null when malformed. */
export function windowReply(r: unknown): WindowReply | null {
  if (!Array.isArray(r)) return null;
  if (r[0] === 5) return r.length === 1 ? (r as [5]) : null;
  if (r[0] === 4) return r.length === 2 && typeof r[1] === 'number' ? (r as [4, number]) : null;
  if (r[0] !== 0 || r.length !== 14) return null;
  for (let i = 1; i <= 6; i++) if (typeof r[i] !== 'number') return null;
  if (typeof r[7] !== 'string' || typeof r[10] !== 'string' || !isFlat(r[8]) || !isFlat(r[9]) || !isFlat(r[11])) return null;
  if ((r[12] !== 0 && r[12] !== 1) || !isFlat(r[13]) || r[13].length !== 13) return null;
  return r as WindowReply;
}
const WriteReply = z.tuple([z.number().int(), z.number().int()]);
/** Separates the queue records in read-window's reply (no record member holds a control character but SEP). */
const RS = '\u001e';

const KIND_OF: Record<Exclude<KezekEvent['type'], 'crossing.status'>, StoredKind> = {
  'vehicle.arrived': 'A',
  'vehicle.service_started': 'S',
  'vehicle.crossed': 'C',
  'vehicle.abandoned': 'X',
  'lanes.changed': 'L',
  'queue.observed': 'O',
};

function statusMember(ev: Extract<KezekEvent, { type: 'crossing.status' }>): string {
  // '' = absent; '=' marks a present value so an empty reason survives the round trip
  const until = ev.until === undefined ? '' : String(Date.parse(ev.until));
  const reason = ev.reason === undefined ? '' : `=${ev.reason}`;
  return [ev.eventId, ev.status, until, reason].join(SEP);
}

function parseStatusRecord(t: number, member: string): QueueRecord {
  const [eventId, status, until, ...rest] = member.split(SEP);
  const reason = rest.join(SEP);
  const rec: QueueRecord = { t, kind: 'T', eventId: eventId!, status: status as QueueStatus };
  if (until) rec.untilMs = Number(until);
  if (reason.startsWith('=')) rec.reason = reason.slice(1);
  return rec;
}

function parseRecord(kind: string, t: number, member: string, befores?: Map<QueueRecord, number | null>): QueueRecord {
  if (kind === 'T') return parseStatusRecord(t, member);
  const i = member.indexOf(SEP);
  const eventId = member.slice(0, i);
  let payload = member.slice(i + 1);
  const k = kind as RecordKind;
  if (k === 'L' || k === 'O') return { t, kind: k, eventId, value: Number(payload) };
  if (payload === '') return { t, kind: k, eventId };
  // S and C records with a ref carry read-window's `before` (the newest arrival / start of the ref at or before them)
  const j = (k === 'S' || k === 'C') ? payload.indexOf(SEP) : -1;
  let before: string | undefined;
  if (j >= 0) {
    before = payload.slice(j + 1);
    payload = payload.slice(0, j);
  }
  const rec: QueueRecord = { t, kind: k, eventId, ref: payload };
  if (befores && before !== undefined) befores.set(rec, before === '' ? null : Number(before));
  return rec;
}

/**
 * The last window read as of a queue's newest event, kept so that the next such read of the queue is a delta read
 * (read-window returns only the records after `asOfMs` when nothing was inserted below it since; see the script).
 * Immutable: a read that answers builds a new one.
 */
interface CachedWindow {
  asOfMs: number;
  fromMs: number;
  /** The queue's own records (no status records), in record order. */
  records: QueueRecord[];
  /** `before` of the S and C records with a ref: the newest arrival (start) of the same ref at or before them. */
  befores: Map<QueueRecord, number | null>;
  /** read-window's fMaxT and lo / count per kind, sent back for the next read's check. */
  counts: (string | number)[];
  /** When it was read (performance.now()): a window read again within windowCacheIdleMs is not dropped for another. */
  keptAt: number;
}

/** The lowest `before` of the cached records of `kind` ('-inf' if one has none, '' if there is none). */
function lowestBefore(c: CachedWindow, kind: 'S' | 'C'): string {
  let lo = Infinity;
  for (const [rec, b] of c.befores) {
    if (rec.kind !== kind) continue;
    if (b === null) return '-inf';
    if (b < lo) lo = b;
  }
  return lo === Infinity ? '' : String(lo);
}

/** Earlier arrivals (starts) of a window: the befores at or before `fromMs` of its S (C) records, later ones overwriting. */
function earlierFrom(records: readonly QueueRecord[], befores: Map<QueueRecord, number | null>, kind: 'S' | 'C', fromMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const rec of records) {
    if (rec.kind !== kind) continue;
    const b = befores.get(rec);
    if (b !== undefined && b !== null && b <= fromMs) out[rec.ref!] = b;
  }
  return out;
}

function flatToMap(flat: (string | number)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = Number(flat[i + 1]);
  return out;
}

const SummarySchema = z.object({
  q: z.number().nullable(),
  l: z.number().nullable(),
  s: z.enum(['open', 'closed', 'restricted']).nullable(),
  w: z.number().nullable(),
  p10: z.number().nullable(),
  p90: z.number().nullable(),
});
type Summary = z.infer<typeof SummarySchema>;

export function createQueueStore(opts: QueueStoreOptions): QueueStore {
  const { redis } = opts;
  const keys = createKeys(opts.prefix);
  const options = {
    retentionMs: opts.retentionMs ?? STORE_DEFAULTS.retentionMs,
    historyRetentionMs: opts.historyRetentionMs ?? STORE_DEFAULTS.historyRetentionMs,
    bucketMs: opts.bucketMs ?? STORE_DEFAULTS.bucketMs,
    lookbackMs: opts.lookbackMs ?? STORE_DEFAULTS.lookbackMs,
    maxWindowRecords: opts.maxWindowRecords ?? STORE_DEFAULTS.maxWindowRecords,
    windowCacheRecords: opts.windowCacheRecords ?? STORE_DEFAULTS.windowCacheRecords,
    windowCacheIdleMs: opts.windowCacheIdleMs ?? STORE_DEFAULTS.windowCacheIdleMs,
  };
  loadScripts(redis);

  const queueKeyList = (q: QueueRef): string[] => {
    const k = keys.queue(q);
    return [k.meta, k.records.A, k.records.S, k.records.C, k.records.X, k.records.L, k.records.O];
  };

  /** The 11 per-queue KEYS of apply-events, built once (key strings are the same for every event of a queue). */
  const applyKeys = new Map<string, string[]>();
  const applyKeysOf = (q: QueueRef): { id: string; list: string[] } => {
    const id = `${q.direction}\u0000${q.vehicleClass}`;
    const full = `${q.crossingId}\u0000${id}`;
    let list = applyKeys.get(full);
    if (!list) {
      list = keys.applyEventsKeys(q);
      applyKeys.set(full, list);
    }
    return { id, list };
  };

  /** One queue event waiting for its crossing's call: its queue, its 5 script values, and who waits for it. */
  interface PendingApply {
    crossingId: string;
    queue: QueueRef;
    values: (string | number)[];
    ctx: Record<string, unknown>;
    resolve: (o: ApplyOutcome) => void;
    reject: (e: unknown) => void;
  }
  /** Queue events waiting for the end of the tick, by crossing (see `applyEvent`). */
  const batches = new Map<string, PendingApply[]>();
  let flushScheduled = false;

  const applyCallCounts = { calls: 0, events: 0 };
  function sendBatch(items: PendingApply[]): void {
    applyCallCounts.calls += 1;
    applyCallCounts.events += items.length;
    const c = keys.crossing(items[0]!.crossingId);
    const callKeys = [c.ids, c.cmeta];
    // the events' fields, joined into one argument (see the script's header): none holds a control character
    const fields: (string | number)[] = [];
    const queueIndex = new Map<string, number>();
    for (const it of items) {
      const { id, list } = applyKeysOf(it.queue);
      let qi = queueIndex.get(id);
      if (qi === undefined) {
        qi = queueIndex.size + 1;
        queueIndex.set(id, qi);
        for (const k of list) callKeys.push(k);
      }
      fields.push(qi);
      for (const v of it.values) fields.push(v);
    }
    const args = [options.retentionMs, options.historyRetentionMs, options.bucketMs, fields.join(FIELD_SEP)];
    callScript(redis, 'apply-events', callKeys, args).then(
      (reply) => {
        const n = items.length;
        // checked by hand, not with a schema: this runs once per event on the ingest path
        if (!Array.isArray(reply) || reply.length !== 2 * n || !reply.every((x) => Number.isInteger(x))) {
          for (const it of items) it.reject(new QueueStoreError('BAD_REPLY', 'apply-events returned an unexpected reply', { ...it.ctx, reply }));
          return;
        }
        items.forEach((it, i) => {
          const code = reply[2 * i] as number;
          const err = replyError('apply', code, reply[2 * i + 1], it.ctx);
          if (err) it.reject(err);
          else it.resolve(code === 0 ? 'applied' : 'duplicate');
        });
      },
      (err: unknown) => {
        // Redis refused or the script failed (not a lost connection): nothing of the call was applied. Each event
        // is tried again on its own, so one event that makes the script fail does not fail the others with it.
        if (err instanceof ReplyError && items.length > 1) for (const it of items) sendBatch([it]);
        else for (const it of items) it.reject(err);
      },
    );
  }

  function flushBatches(): void {
    flushScheduled = false;
    const all = [...batches.values()];
    batches.clear();
    for (const b of all) sendBatch(b);
  }

  function enqueueApply(ev: Exclude<KezekEvent, { type: 'crossing.status' }>, values: (string | number)[], ctx: Record<string, unknown>): Promise<ApplyOutcome> {
    let b = batches.get(ev.crossingId);
    if (!b) {
      b = [];
      batches.set(ev.crossingId, b);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushBatches);
      }
    }
    const batch = b;
    const p = new Promise<ApplyOutcome>((resolve, reject) => batch.push({ crossingId: ev.crossingId, queue: ev, values, ctx, resolve, reject }));
    if (b.length >= MAX_APPLY_BATCH) {
      batches.delete(ev.crossingId);
      sendBatch(b);
    }
    return p;
  }

  async function applyEvent(ev: KezekEvent): Promise<ApplyOutcome> {
    const ctx = { eventId: ev.eventId, crossingId: ev.crossingId, type: ev.type };
    if (CONTROL_RE.test(ev.eventId)) throw new QueueStoreError('INVALID_RECORD', 'eventId must not contain control characters', ctx);
    const t = Date.parse(ev.occurredAt);
    if (ev.type !== 'crossing.status') {
      const kind = KIND_OF[ev.type];
      const ref = 'vehicleRef' in ev && ev.vehicleRef !== undefined ? ev.vehicleRef : '';
      if (ref.includes('|') || CONTROL_RE.test(ref)) throw new QueueStoreError('INVALID_RECORD', "vehicleRef must not contain '|' or control characters", ctx);
      const value = ev.type === 'lanes.changed' ? String(ev.lanesOpen) : ev.type === 'queue.observed' ? String(ev.queueLength) : '';
      return enqueueApply(ev, [ev.eventId, t, kind, ref, value], ctx);
    }
    const c = keys.crossing(ev.crossingId);
    const reply = await callScript(redis, 'apply-status', [c.ids, c.cmeta, c.status(ev.direction, ev.vehicleClass), c.stfold], [
      ev.eventId,
      t,
      statusMember(ev),
      statusScope(ev.direction, ev.vehicleClass),
      options.retentionMs,
    ]);
    if (!isCodeReply(reply)) throw new QueueStoreError('BAD_REPLY', 'apply script returned an unexpected reply', { ...ctx, reply });
    const [code, arg] = reply;
    const err = replyError('apply', code, arg, ctx);
    if (err) throw err;
    return code === 0 ? 'applied' : 'duplicate';
  }

  /** Kept windows by queue key and lookback (readLatestWindow), and how many records they hold in all. */
  const windowCache = new Map<string, CachedWindow>();
  let windowCacheSize = 0;
  const windowReadCounts = { full: 0, delta: 0 };
  /**
   * Keeps `w` as the queue's window (the most recently read), within the budget of `windowCacheRecords` records.
   * To make room it drops only windows not kept again for `windowCacheIdleMs`, least recently kept first; when that
   * is not enough, `w` is not kept (and nothing is dropped). Why not plain LRU: the refresher reads the busy queues
   * round robin, so when their windows add up to more than the budget, LRU drops each window just before its next
   * read and every read is whole (the ingest bench with 60,000 events: 49 % delta reads, Redis 33 instead of ~25 ms
   * of CPU per 1,000 events). With this rule the windows kept stay kept while they are read, and the others are read
   * whole, as they would be anyway. (Keeping old windows was tried before with no idle rule, and not adopted because
   * the estimator's RSS then grew 15-21 % over the growth bench; that RSS was read right after a normal GC, which
   * reads +7 to +20 % for the same code, see bench/services/ipc.ts.)
   */
  function keepWindow(key: string, w: CachedWindow | undefined): void {
    const old = windowCache.get(key);
    if (old) windowCacheSize -= old.records.length;
    windowCache.delete(key);
    if (!w || w.records.length > options.windowCacheRecords) return;
    const now = w.keptAt;
    if (windowCacheSize + w.records.length > options.windowCacheRecords) {
      // what dropping the idle windows (Map order = least recently kept first) would free, before dropping any
      let freed = 0;
      const idle: string[] = [];
      for (const [k, v] of windowCache) {
        if (windowCacheSize - freed + w.records.length <= options.windowCacheRecords) break;
        if (now - v.keptAt < options.windowCacheIdleMs) break; // the rest were kept more recently still
        idle.push(k);
        freed += v.records.length;
      }
      if (windowCacheSize - freed + w.records.length > options.windowCacheRecords) return;
      for (const k of idle) windowCache.delete(k);
      windowCacheSize -= freed;
    }
    windowCache.set(key, w);
    windowCacheSize += w.records.length;
  }

  /**
   * `asOfMs` undefined: as of the queue's newest event time (null when it has none); `cacheKey` set: a delta read
   * against the window kept under that key, and the result kept for the next one.
   */
  async function windowCall(queue: QueueRef, asOfMs: number | undefined, lookbackMs: number, cacheKey?: string): Promise<QueueWindow | null> {
    if ((asOfMs !== undefined && !Number.isFinite(asOfMs)) || !(lookbackMs > 0)) throw new QueueStoreError('BAD_ARGUMENT', 'asOfMs must be finite and lookbackMs > 0', { asOfMs, lookbackMs });
    const q = keys.queue(queue);
    const cached = cacheKey === undefined ? undefined : windowCache.get(cacheKey);
    const deltaArgs = cached ? [cached.asOfMs, cached.fromMs, ...cached.counts, lowestBefore(cached, 'S'), lowestBefore(cached, 'C')] : [];
    const reply = await callScript(
      redis,
      'read-window',
      [...queueKeyList(queue), q.vix, ...keys.statusKeysFor(queue), keys.crossing(queue.crossingId).stfold],
      [lookbackMs, asOfMs ?? '', options.maxWindowRecords, ...keys.statusScopesFor(queue), ...deltaArgs],
    );
    const r = windowReply(reply);
    if (!r) throw new QueueStoreError('BAD_REPLY', 'read-window returned an unexpected reply', { queue });
    if (r[0] === 5) {
      if (cacheKey !== undefined) keepWindow(cacheKey, undefined);
      return null;
    }
    if (r[0] === 4) throw replyError('read-window', 4, r[1], { queue, asOfMs })!;
    const [, latestMs, fromMs, queueLengthAtFrom, lanes, last, stT, stM, ea, es, packed, statusFlat, isDelta, counts] = r;
    if (isDelta === 1 && !cached) throw new QueueStoreError('BAD_REPLY', 'read-window answered a delta read that was not asked for', { queue });
    const befores = new Map<QueueRecord, number | null>();
    const fresh: QueueRecord[] = [];
    if (packed !== '') {
      for (const rec of packed.split(RS)) {
        const i = rec.indexOf(SEP);
        fresh.push(parseRecord(rec[0]!, Number(rec.slice(1, i)), rec.slice(i + 1), befores));
      }
    }
    fresh.sort(compareRecords);
    let own = fresh;
    if (isDelta === 1) {
      // the kept records still in the window, then the new ones (all after the kept window's asOf)
      const kept = cached!.records;
      let first = 0;
      while (first < kept.length && kept[first]!.t <= fromMs) first++;
      own = kept.slice(first);
      for (const rec of own) {
        const b = cached!.befores.get(rec);
        if (b !== undefined) befores.set(rec, b);
      }
      for (const rec of fresh) own.push(rec);
    }
    const records = own.slice();
    for (let i = 0; i + 1 < statusFlat.length; i += 2) records.push(parseStatusRecord(Number(statusFlat[i]), String(statusFlat[i + 1])));
    if (records.length !== own.length) records.sort(compareRecords);
    if (cacheKey !== undefined) {
      keepWindow(cacheKey, { asOfMs: latestMs, fromMs, records: own, befores, counts, keptAt: performance.now() });
      windowReadCounts[isDelta === 1 ? 'delta' : 'full'] += 1;
    }
    asOfMs ??= latestMs;
    return {
      queue: { crossingId: queue.crossingId, direction: queue.direction, vehicleClass: queue.vehicleClass },
      asOfMs,
      fromMs,
      queueLengthAtFrom,
      lanesAtFrom: lanes < 0 ? null : lanes,
      statusAtFrom: stT < 0 ? null : parseStatusRecord(stT, stM),
      earlierArrivals: isDelta === 1 ? earlierFrom(own, befores, 'S', fromMs) : flatToMap(ea),
      earlierStarts: isDelta === 1 ? earlierFrom(own, befores, 'C', fromMs) : flatToMap(es),
      records,
      lastEventMs: last < 0 ? null : last,
    };
  }

  async function readWindow(queue: QueueRef, asOfMs: number, lookbackMs = options.lookbackMs): Promise<QueueWindow> {
    if (!Number.isFinite(asOfMs)) throw new QueueStoreError('BAD_ARGUMENT', 'asOfMs must be finite and lookbackMs > 0', { asOfMs, lookbackMs });
    return (await windowCall(queue, asOfMs, lookbackMs))!;
  }

  function summaryOf(e: QueueEstimate): Summary {
    return { q: e.queueLength, l: e.lanesOpen, s: e.status, w: e.waitSeconds, p10: e.waitP10Seconds, p90: e.waitP90Seconds };
  }

  async function writeEstimate(estimate: QueueEstimate, wopts: { seed?: boolean; minRevision?: number } = {}): Promise<WriteEstimateResult> {
    const est = QueueEstimateSchema.parse(estimate);
    const asOfMs = Date.parse(est.asOf);
    const { revision: _ignored, ...rest } = est;
    const k = keys.queue(est);
    const [reply] = await Promise.all([
      callScript(redis, 'write-estimate', [k.est, k.hist, k.hest], [
        JSON.stringify(rest),
        asOfMs,
        options.bucketMs,
        JSON.stringify(summaryOf(est)),
        wopts.seed ? 'seed' : 'publish',
        Math.max(0, Math.floor(wopts.minRevision ?? 0)),
      ]),
      // in the same pipeline, after the script (one round trip, not two): whether or not this estimate is written,
      // the queue has one once the script returns (a refusal means a stored estimate exists), so it belongs in the
      // index; an entry whose estimate is missing (the script failed) is skipped by readAllEstimates
      pipelined(redis, 'sadd', [keys.queueIndex, queueKey(est)]),
    ]);
    const parsed = WriteReply.safeParse(reply);
    if (!parsed.success) throw new QueueStoreError('BAD_REPLY', 'write-estimate returned an unexpected reply', { queue: queueKey(est) });
    const [code, revision] = parsed.data;
    return { written: code === 0, revision, estimate: { ...est, revision } };
  }

  function parseStored(json: string | null, revision: string | null): QueueEstimate | null {
    if (json === null) return null;
    const res = QueueEstimateSchema.safeParse({ ...(JSON.parse(json) as object), revision: Number(revision ?? 0) });
    if (!res.success) throw new QueueStoreError('BAD_REPLY', 'stored estimate does not match QueueEstimateSchema', { issues: res.error.issues });
    return res.data;
  }

  async function readEstimate(queue: QueueRef): Promise<QueueEstimate | null> {
    const [json, revision] = await redis.hmget(keys.queue(queue).est, 'json', 'revision');
    return parseStored(json ?? null, revision ?? null);
  }

  async function readAllEstimates(): Promise<QueueEstimate[]> {
    const ids = (await redis.smembers(keys.queueIndex)).sort();
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    const queues = ids.map((id) => {
      const [crossingId, direction, vehicleClass] = id.split('|');
      return { crossingId: crossingId!, direction: direction!, vehicleClass: VehicleClassSchema.parse(vehicleClass) };
    });
    for (const q of queues) pipe.hmget(keys.queue(q).est, 'json', 'revision');
    const res = (await pipe.exec()) ?? [];
    const out: QueueEstimate[] = [];
    for (const [err, value] of res) {
      if (err) throw err;
      const [json, revision] = value as (string | null)[];
      const e = parseStored(json ?? null, revision ?? null);
      if (e) out.push(e);
    }
    return out;
  }

  async function estimateAsOf(queue: QueueRef, asOfMs: number): Promise<QueueEstimate> {
    if (!opts.model) throw new QueueStoreError('NO_MODEL', 'this queue store was created without an estimate model');
    const window = await readWindow(queue, asOfMs);
    return { ...opts.model(window), revision: 0 };
  }

  async function readHistory(queue: QueueRef, fromMs: number, toMs: number, stepMs: number): Promise<HistoryPoint[]> {
    const B = options.bucketMs;
    if (!(stepMs > 0) || stepMs % B !== 0) throw new QueueStoreError('BAD_ARGUMENT', `stepMs must be a positive multiple of ${B}`, { stepMs });
    if (!(toMs > fromMs)) return [];
    const start = Math.floor(fromMs / stepMs) * stepMs;
    const points = Math.ceil((toMs - start) / stepMs);
    if (points > 10_000) throw new QueueStoreError('BAD_ARGUMENT', 'at most 10000 history points per read', { points });
    const k = keys.queue(queue);
    const buckets: number[] = [];
    for (let b = start; b < start + points * stepMs; b += B) buckets.push(b);
    const fields = buckets.flatMap((b) => [`${b}:a`, `${b}:s`, `${b}:ws`, `${b}:wn`, `${b}:e`]);
    const [values, before] = await Promise.all([
      redis.hmget(k.hist, ...fields),
      redis.zrevrangebyscore(k.hest, `(${start}`, '-inf', 'LIMIT', 0, 1),
    ]);
    let carried: Summary | null = null;
    if (before[0] !== undefined) {
      const raw = await redis.hget(k.hist, `${before[0]}:e`);
      if (raw) carried = SummarySchema.parse(JSON.parse(raw));
    }
    const out: HistoryPoint[] = [];
    const per = stepMs / B;
    for (let p = 0; p < points; p++) {
      let arrivals = 0;
      let served = 0;
      let ws = 0;
      let wn = 0;
      for (let j = 0; j < per; j++) {
        const o = (p * per + j) * 5;
        arrivals += Number(values[o] ?? 0);
        served += Number(values[o + 1] ?? 0);
        ws += Number(values[o + 2] ?? 0);
        wn += Number(values[o + 3] ?? 0);
        const e = values[o + 4];
        if (e) carried = SummarySchema.parse(JSON.parse(e));
      }
      out.push({
        t: start + p * stepMs,
        queueLength: carried?.q ?? null,
        lanesOpen: carried?.l ?? null,
        status: carried?.s ?? null,
        waitSeconds: carried?.w ?? null,
        waitP10Seconds: carried?.p10 ?? null,
        waitP90Seconds: carried?.p90 ?? null,
        realisedWaitSeconds: wn > 0 ? ws / wn / 1000 : null,
        arrivals,
        served,
      });
    }
    return out;
  }

  async function lastEventMs(queue: QueueRef): Promise<number | null> {
    const [maxT] = await redis.hmget(keys.queue(queue).meta, 'maxT');
    const scopes = await redis.hmget(keys.crossing(queue.crossingId).stfold, ...keys.statusScopesFor(queue).map((s) => `${s}:maxT`));
    const all = [maxT, ...scopes].filter((v): v is string => v !== null && v !== undefined).map(Number);
    return all.length ? Math.max(...all) : null;
  }

  return {
    keys,
    options,
    applyEvent,
    readWindow,
    readLatestWindow: (queue, lookbackMs = options.lookbackMs) => windowCall(queue, undefined, lookbackMs, `${queueKey(queue)}@${lookbackMs}`),
    clearWindowCache: () => {
      windowCache.clear();
      windowCacheSize = 0;
    },
    windowReads: () => ({ ...windowReadCounts, keptRecords: windowCacheSize }),
    applyCalls: () => ({ ...applyCallCounts }),
    writeEstimate,
    readEstimate,
    readAllEstimates,
    estimateAsOf,
    readHistory,
    lastEventMs,
    isInitialised: async () => (await redis.exists(keys.initialised)) === 1,
    markInitialised: async () => {
      await redis.set(keys.initialised, JSON.stringify({ at: new Date().toISOString(), layout: keys.root }));
    },
    consumerFloor: (crossingId) => {
      const key = keys.consumerFloor(crossingId);
      return {
        read: async () => {
          const v = await redis.get(key);
          if (v === null) return undefined;
          try {
            const f = JSON.parse(v) as Partial<ConsumerFloor>;
            if (Number.isSafeInteger(f.streamSeq) && f.streamSeq! >= 0 && typeof f.streamCreated === 'string') return { streamSeq: f.streamSeq!, streamCreated: f.streamCreated };
          } catch {
            // not JSON: as below
          }
          return undefined;
        },
        keep: async (floor) => {
          if (!Number.isSafeInteger(floor.streamSeq) || floor.streamSeq < 0) throw new RangeError(`consumer floor must be a stream sequence, got ${floor.streamSeq}`);
          await redis.set(key, JSON.stringify({ streamSeq: floor.streamSeq, streamCreated: floor.streamCreated }));
        },
        drop: async () => {
          await redis.del(key);
        },
      };
    },
  };
}
