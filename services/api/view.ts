/**
 * The in-process view of every queue's current estimate. Polls of /waits are served from here without a
 * Redis round trip: the view keeps the latest QueueEstimate per queue, fed by a JetStream ordered consumer on
 * the estimates stream, and caches the serialised JSON body + ETag per crossing (and per filter combination,
 * lazily) until that crossing changes or one of its queues turns stale with the passage of time.
 *
 * Boot without losing racing updates: read the stream's last sequence N, then load `reader.readAllEstimates()`,
 * then consume from N+1. An update published during the snapshot read is either in the snapshot or at a
 * sequence > N; the higher revision wins, so applying both in any order converges.
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import type { Catalogue, Crossing, VehicleClass } from '../../shared/catalogue/index.ts';
import { QueueEstimateSchema, queueKey, type QueueEstimate, type QueueStatus } from '../../shared/estimates.ts';
import { subjects } from '../../shared/events/subjects.ts';
import type { Logger } from '../../shared/logger.ts';
import type { QueueReader } from '../../shared/queue-store/api.ts';

/** One queue as the public API shows it. */
export interface QueueWaitView {
  direction: string;
  vehicleClass: VehicleClass;
  status: QueueStatus;
  statusUntil: string | null;
  statusReason: string | null;
  lanesOpen: number | null;
  queueLength: number | null;
  waitSeconds: number | null;
  waitP10Seconds: number | null;
  waitP90Seconds: number | null;
  lastEventAt: string | null;
  updatedAt: string | null;
  /** null when the estimator has not published anything for this queue yet. */
  method: QueueEstimate['method'] | null;
  stale: boolean;
  /** From when the queue counts as stale unless an event arrives (see staleAtOf); null before any event. */
  staleAt: string | null;
  revision: number | null;
}

/** A precomputed JSON body and its ETag, as `sendCached` (services/api/lookup.ts) sends it. */
export interface CachedBody {
  body: string;
  etag: string;
  /** The body's UTF-8 bytes, made by the first `sendCached` that sends it and kept with it. */
  bytes?: Buffer;
  /** Epoch ms when a queue in it turns stale (the body changes then); Infinity or absent: no such flip ahead. */
  validUntil?: number;
}

export interface EstimateChange {
  prev: QueueEstimate | undefined;
  next: QueueEstimate;
  /** Estimates-stream sequence of the message that carried `next`. */
  seq: number;
}

export interface WaitsFilter {
  direction?: string;
  vehicleClass?: VehicleClass;
}

export interface EstimatesView {
  start(): Promise<void>;
  close(): Promise<void>;
  get(ref: { crossingId: string; direction: string; vehicleClass: string }): QueueEstimate | undefined;
  /** Every catalogue queue of the crossing, matching the filter, as shown by the API (at `now`). */
  queuesOf(crossingId: string, filter?: WaitsFilter, now?: number): QueueWaitView[];
  /** Live status of a crossing derived from its queues' estimates (falls back to the catalogue's). */
  crossingStatus(crossingId: string): { status: QueueStatus; statusUntil: string | null };
  /** Cached body + ETag of GET /v1/crossings/:id/waits for this filter. */
  crossingWaits(crossingId: string, filter?: WaitsFilter): CachedBody;
  /** Cached body + ETag of GET /v1/waits. */
  allWaits(): CachedBody;
  /** Sequence of the newest estimates-stream message applied (0 before any). */
  lastSeq(): number;
  /** Wall-clock ms of the newest `updatedAt` in the view, or null when empty. */
  newestUpdateMs(): number | null;
  onChange(listener: (change: EstimateChange) => void): () => void;
  readonly size: number;
}

export interface ViewDeps {
  nc: NatsConnection;
  reader: QueueReader;
  catalogue: Catalogue;
  prefix: string;
  staleAfterSeconds: number;
  logger: Logger;
  now?: () => number;
}

export const etagOf = (body: string): string => `"${createHash('sha1').update(body).digest('base64url')}"`;

/**
 * From when (epoch ms) the queue counts as stale unless an event arrives: the estimator's `staleAt` (later for a
 * quiet queue, shared/estimation/staleness.ts), never before `staleAfterMs` after the last event; null: no event.
 */
export function staleAtOf(est: QueueEstimate, staleAfterMs: number): number | null {
  const last = est.lastEventAt === null ? NaN : Date.parse(est.lastEventAt);
  if (!Number.isFinite(last)) return null; // no event (or a time we cannot read): stale
  const fixed = last + staleAfterMs;
  const quiet = est.staleAt ? Date.parse(est.staleAt) : NaN;
  return Number.isFinite(quiet) ? Math.max(fixed, quiet) : fixed;
}

export function toQueueView(crossing: Crossing, direction: string, vehicleClass: VehicleClass, est: QueueEstimate | undefined, now: number, staleAfterMs: number): QueueWaitView {
  if (!est) {
    return {
      direction, vehicleClass, status: crossing.status, statusUntil: null, statusReason: null, lanesOpen: null, queueLength: null,
      waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, lastEventAt: null, updatedAt: null, method: null, stale: true, staleAt: null, revision: null,
    };
  }
  const staleAt = staleAtOf(est, staleAfterMs);
  return {
    direction,
    vehicleClass,
    status: est.status,
    statusUntil: est.statusUntil,
    statusReason: est.statusReason,
    lanesOpen: est.lanesOpen,
    queueLength: est.queueLength,
    waitSeconds: est.waitSeconds,
    waitP10Seconds: est.waitP10Seconds,
    waitP90Seconds: est.waitP90Seconds,
    lastEventAt: est.lastEventAt,
    updatedAt: est.updatedAt,
    method: est.method,
    stale: est.stale || staleAt === null || now > staleAt,
    staleAt: staleAt === null ? null : new Date(staleAt).toISOString(),
    revision: est.revision,
  };
}

/** When (ms) the first currently-fresh queue in the list turns stale; Infinity if none will. */
function nextStaleFlip(queues: QueueWaitView[]): number {
  let min = Infinity;
  for (const q of queues) if (!q.stale && q.staleAt) min = Math.min(min, Date.parse(q.staleAt) + 1);
  return min;
}

const newestAsOf = (ests: (QueueEstimate | undefined)[], fallback: number): string => {
  let best: string | undefined;
  for (const e of ests) if (e && (best === undefined || Date.parse(e.asOf) > Date.parse(best))) best = e.asOf;
  return best ?? new Date(fallback).toISOString();
};

interface CacheEntry extends CachedBody {
  validUntil: number;
}

export function createEstimatesView(deps: ViewDeps): EstimatesView {
  const { catalogue, logger } = deps;
  const now = deps.now ?? Date.now;
  const staleAfterMs = deps.staleAfterSeconds * 1000;
  const s = subjects(deps.prefix);
  const log = logger.child({ component: 'estimates-view' });

  const estimates = new Map<string, QueueEstimate>();
  /** Queue keys whose current estimate came from the stream (authoritative order) rather than the snapshot. */
  const fromStream = new Set<string>();
  const perCrossing = new Map<string, Map<string, CacheEntry>>();
  let bulk: CacheEntry | undefined;
  let seq = 0;
  const listeners = new Set<(c: EstimateChange) => void>();
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let closed = false;

  const invalidate = (crossingId: string) => {
    perCrossing.delete(crossingId);
    bulk = undefined;
  };

  /** Applies one estimate; returns true when it replaced the previous one. */
  function apply(est: QueueEstimate, source: 'snapshot' | 'stream', msgSeq: number): boolean {
    const crossing = catalogue.get(est.crossingId);
    if (!crossing || !crossing.directions.includes(est.direction) || !crossing.vehicleClasses.includes(est.vehicleClass)) return false;
    const key = queueKey(est);
    const prev = estimates.get(key);
    if (prev) {
      // the stream is ordered, so a stream message supersedes an older stream message whatever its revision
      // (the estimator may restart revisions after a rebuild); against the snapshot, the higher revision wins
      const accept = source === 'stream' ? fromStream.has(key) || est.revision >= prev.revision : est.revision > prev.revision;
      if (!accept) return false;
    }
    estimates.set(key, est);
    if (source === 'stream') fromStream.add(key);
    invalidate(est.crossingId);
    if (source === 'stream') {
      for (const l of listeners) {
        try {
          l({ prev, next: est, seq: msgSeq });
        } catch (err) {
          log.error({ err }, 'estimate listener failed');
        }
      }
    }
    return true;
  }

  function queuesOf(crossingId: string, filter: WaitsFilter = {}, at = now()): QueueWaitView[] {
    const c = catalogue.get(crossingId);
    if (!c) return [];
    const out: QueueWaitView[] = [];
    for (const direction of c.directions) {
      if (filter.direction && filter.direction !== direction) continue;
      for (const vehicleClass of c.vehicleClasses) {
        if (filter.vehicleClass && filter.vehicleClass !== vehicleClass) continue;
        out.push(toQueueView(c, direction, vehicleClass, estimates.get(queueKey({ crossingId, direction, vehicleClass })), at, staleAfterMs));
      }
    }
    return out;
  }

  /** The estimates of a crossing's queues that the filter keeps (the document's asOf is theirs only, so a filtered
   * poll's ETag changes only when one of ITS queues does). */
  const estimatesOf = (crossingId: string, filter: WaitsFilter = {}) =>
    [...estimates.values()].filter((e) => e.crossingId === crossingId && (!filter.direction || e.direction === filter.direction) && (!filter.vehicleClass || e.vehicleClass === filter.vehicleClass));

  function crossingWaits(crossingId: string, filter: WaitsFilter = {}): CachedBody {
    const at = now();
    const fkey = filter.direction === undefined && filter.vehicleClass === undefined ? '*|*' : `${filter.direction ?? '*'}|${filter.vehicleClass ?? '*'}`;
    let entries = perCrossing.get(crossingId);
    const hit = entries?.get(fkey);
    if (hit && at < hit.validUntil) return hit;
    const queues = queuesOf(crossingId, filter, at);
    const body = JSON.stringify({ crossingId, asOf: newestAsOf(estimatesOf(crossingId, filter), at), queues });
    const entry: CacheEntry = { body, etag: etagOf(body), validUntil: nextStaleFlip(queues) };
    if (!entries) perCrossing.set(crossingId, (entries = new Map()));
    entries.set(fkey, entry);
    return entry;
  }

  function allWaits(): CachedBody {
    const at = now();
    if (bulk && at < bulk.validUntil) return bulk;
    let validUntil = Infinity;
    const crossings = catalogue.crossings.map((c) => {
      const queues = queuesOf(c.id, {}, at);
      validUntil = Math.min(validUntil, nextStaleFlip(queues));
      return { crossingId: c.id, ...crossingStatus(c.id), queues };
    });
    const body = JSON.stringify({ asOf: newestAsOf([...estimates.values()], at), crossings });
    bulk = { body, etag: etagOf(body), validUntil };
    return bulk;
  }

  function crossingStatus(crossingId: string): { status: QueueStatus; statusUntil: string | null } {
    const c = catalogue.get(crossingId);
    const ests = estimatesOf(crossingId);
    if (!c) return { status: 'closed', statusUntil: null };
    if (ests.length === 0) return { status: c.status, statusUntil: null };
    const closed = ests.filter((e) => e.status === 'closed');
    const untils = closed.map((e) => e.statusUntil).filter((u): u is string => u !== null).sort();
    if (closed.length === ests.length) return { status: 'closed', statusUntil: untils[0] ?? null };
    if (closed.length > 0 || ests.some((e) => e.status === 'restricted')) return { status: 'restricted', statusUntil: untils[0] ?? null };
    return { status: 'open', statusUntil: null };
  }

  async function start(): Promise<void> {
    const jsm = await jetstreamManager(deps.nc);
    const info = await jsm.streams.info(s.estimatesStream);
    const startSeq = info.state.last_seq + 1;
    seq = info.state.last_seq;
    try {
      for (const raw of await deps.reader.readAllEstimates()) {
        const res = QueueEstimateSchema.safeParse(raw);
        if (res.success) apply(res.data, 'snapshot', 0);
      }
    } catch (err) {
      // the view still fills from the stream; /readyz reports the store separately
      log.warn({ err: { message: (err as Error).message } }, 'could not load the estimates snapshot; continuing with live updates only');
    }
    const js = jetstream(deps.nc);
    const consumer = await js.consumers.get(s.estimatesStream, { filter_subjects: s.estimatesAll, opt_start_seq: startSeq });
    messages = await consumer.consume({ max_messages: 256 });
    const iter = messages;
    loop = (async () => {
      for await (const m of iter) {
        seq = m.seq;
        let parsed: unknown;
        try {
          parsed = m.json();
        } catch {
          parsed = undefined;
        }
        const res = QueueEstimateSchema.safeParse(parsed);
        if (!res.success) {
          log.warn({ subject: m.subject, seq: m.seq }, 'ignoring malformed estimate message');
          continue;
        }
        apply(res.data, 'stream', m.seq);
      }
    })().catch((err: unknown) => {
      if (!closed) log.error({ err }, 'estimates consumer stopped');
    });
    log.info({ queues: estimates.size, fromSeq: startSeq }, 'estimates view started');
  }

  return {
    start,
    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      await messages?.close().catch(() => undefined);
      await loop;
    },
    get: (ref) => estimates.get(queueKey(ref)),
    queuesOf,
    crossingStatus,
    crossingWaits,
    allWaits,
    lastSeq: () => seq,
    newestUpdateMs() {
      let best: number | null = null;
      for (const e of estimates.values()) {
        const t = Date.parse(e.updatedAt);
        if (best === null || t > best) best = t;
      }
      return best;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get size() {
      return estimates.size;
    },
  };
}
