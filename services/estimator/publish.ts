/**
 * Recomputes and publishes queue estimates: window as of the queue's newest event time -> model -> stored with
 * writeEstimate (revision assigned by the store) -> published on `<prefix>.v1.estimates.<crossing>.<dir>.<class>`
 * when it changed materially or the last publication is older than `republishEveryMs` of event time.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { subjects } from '../../shared/events/index.ts';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import { queueKey, type QueueEstimate } from '../../shared/estimates.ts';
import { computeEstimate, MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import type { QueueWindow } from '../../shared/estimation/window.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import type { Logger } from '../../shared/logger.ts';

export interface PublisherDeps {
  store: QueueStore;
  js: JetStreamClient;
  catalogue: Catalogue;
  prefix: string;
  logger: Logger;
  staleAfterMs: number;
  /** STALE_QUIET_MAX_SECONDS in ms (see shared/estimation/staleness.ts). */
  maxSilenceMs?: number;
  republishEveryMs: number;
  now: () => number;
  /** Window reads in flight at a time (READS_IN_FLIGHT). */
  readsInFlight?: number;
}

export type RefreshResult = 'published' | 'unchanged' | 'no-events' | 'not-catalogued';

/**
 * A published `staleAt` is kept at least this share of a fresh estimate's silence allowance (staleAt - asOf) ahead
 * of the queue's newest event: readers call a queue stale at the published staleAt, so without this a source sending
 * unchanged figures every few minutes was shown stale between two of them (the estimate was not republished). The
 * cost: at most one republish per (1 - share) of the allowance of event time (3 min at the 15-minute default) for
 * this reason; the guarantee: a queue is shown stale only after at least this share of its allowance of silence.
 */
export const STALE_AT_KEPT_AHEAD_SHARE = 0.8;

/**
 * True when drivers would see a different picture: status, lanes, queue length, method, or wait moved > max(60 s,
 * 5 %); or when the published staleAt is running out while events keep coming (STALE_AT_KEPT_AHEAD_SHARE).
 */
export function materiallyChanged(prev: QueueEstimate | null, next: QueueEstimate, republishEveryMs: number): boolean {
  if (!prev) return true;
  const asOf = Date.parse(next.asOf);
  if (asOf - Date.parse(prev.asOf) >= republishEveryMs) return true;
  if (next.staleAt) {
    if (!prev.staleAt) return true;
    if (Date.parse(prev.staleAt) - asOf < STALE_AT_KEPT_AHEAD_SHARE * (Date.parse(next.staleAt) - asOf)) return true;
  }
  if (prev.status !== next.status || prev.statusUntil !== next.statusUntil || prev.statusReason !== next.statusReason) return true;
  if (prev.lanesOpen !== next.lanesOpen || prev.queueLength !== next.queueLength || prev.method !== next.method) return true;
  if ((prev.waitSeconds === null) !== (next.waitSeconds === null)) return true;
  if (prev.waitSeconds !== null && next.waitSeconds !== null) {
    return Math.abs(next.waitSeconds - prev.waitSeconds) > Math.max(60, 0.05 * prev.waitSeconds);
  }
  return false;
}

export function emptyWindow(queue: QueueRef, asOfMs: number): QueueWindow {
  return {
    queue,
    asOfMs,
    fromMs: asOfMs - MODEL_LOOKBACK_MS,
    queueLengthAtFrom: 0,
    lanesAtFrom: null,
    statusAtFrom: null,
    earlierArrivals: {},
    earlierStarts: {},
    records: [],
    lastEventMs: null,
  };
}

/**
 * Window reads in flight at a time. Redis answers a pipeline only once it has run all of it, and a catch-up's reads
 * can be large (thousands of records for a busy queue after a burst), so a catch-up that sent every read at once left
 * Node idle until Redis had run them all, and Redis idle while Node then ran the models. A few reads at a time, and
 * the model run in a later macrotask than the read's reply (see `refresh`), keep both busy: the next reads are
 * already in Redis while Node computes.
 */
export const READS_IN_FLIGHT = 4;

/** A counting semaphore (FIFO): at most `limit` calls of fn run at a time, a slot is freed when fn settles. */
export function createLimiter(limit: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((r) => waiting.push(r));
    else active += 1;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else active -= 1;
    }
  };
}

const nextMacrotask = () => new Promise<void>((r) => setImmediate(r));

export function createPublisher(deps: PublisherDeps) {
  const { store, js, catalogue, logger } = deps;
  const readSlot = createLimiter(deps.readsInFlight ?? READS_IN_FLIGHT);
  const s = subjects(deps.prefix);
  /** Last stored estimate per queue (saves a Redis read per refresh); cleared by rebuild. */
  const cache = new Map<string, QueueEstimate>();

  const model = (window: QueueWindow, revision: number): QueueEstimate | null => {
    const q = window.queue;
    const profile = catalogue.profile(q.crossingId, q.vehicleClass);
    const localZone = catalogue.localZone(q.crossingId);
    if (!profile || !localZone) return null;
    return computeEstimate(window, { profile, localZone, staleAfterMs: deps.staleAfterMs, maxSilenceMs: deps.maxSilenceMs, nowMs: deps.now(), revision });
  };

  /** One manager for every lookup: creating one costs a JetStream API round trip (once per queue at a cold start). */
  let manager: ReturnType<JetStreamClient['jetstreamManager']> | undefined;
  /**
   * With no stored estimate (first boot, or Redis lost its data), the last revision published on the estimates
   * stream: new revisions continue above it, so subscribers never see a revision go back.
   */
  async function publishedRevision(queue: QueueRef): Promise<number> {
    try {
      manager ??= js.jetstreamManager().catch((err: unknown) => {
        manager = undefined; // NATS unreachable: the next lookup tries again
        throw err;
      });
      const jsm = await manager;
      const m = await jsm.streams.getMessage(s.estimatesStream, { last_by_subj: s.estimatesFor(queue.crossingId, queue.direction, queue.vehicleClass) });
      const rev = m ? (m.json() as { revision?: unknown }).revision : undefined;
      return typeof rev === 'number' && Number.isInteger(rev) && rev >= 0 ? rev : 0;
    } catch {
      return 0; // no message on the subject (or the stream is unreachable): start from the stored revision
    }
  }

  async function publish(est: QueueEstimate): Promise<void> {
    try {
      // asOf in the id: a revision number re-used after data loss must not be swallowed as a duplicate
      await js.publish(s.estimatesFor(est.crossingId, est.direction, est.vehicleClass), JSON.stringify(est), { msgID: `${queueKey(est)}#${est.revision}@${est.asOf}` });
    } catch (err) {
      // stored already; the next change (or the periodic republish) publishes again
      logger.warn({ err, queue: queueKey(est) }, 'publishing an estimate failed');
    }
  }

  async function refresh(queue: QueueRef): Promise<RefreshResult> {
    const key = queueKey(queue);
    // as of the queue's newest event time (lastEventMs), read in the same script call as the window
    const window = await readSlot(() => store.readLatestWindow(queue, MODEL_LOOKBACK_MS));
    // the reads that came back with this one free their slots first, so the next reads go out before any model runs
    await nextMacrotask();
    if (window === null) return 'no-events';
    const prev = cache.get(key) ?? (await store.readEstimate(queue));
    const est = model(window, (prev?.revision ?? 0) + 1);
    if (!est) return 'not-catalogued';
    if (!materiallyChanged(prev, est, deps.republishEveryMs)) return 'unchanged';
    // the floor is the revision we know was published: the cached one even when Redis has just lost the stored
    // estimate (a 0 floor there would restart revisions at 1), else the last one on the estimates stream
    const res = await store.writeEstimate(est, { minRevision: prev?.revision ?? (await publishedRevision(queue)) });
    if (!res.written) {
      cache.delete(key);
      return 'unchanged';
    }
    cache.set(key, res.estimate);
    await publish(res.estimate);
    return 'published';
  }

  /** Cold start: a `prior` estimate for every catalogued queue that has none. */
  async function seedPriors(): Promise<number> {
    let seeded = 0;
    for (const q of catalogue.queues()) {
      const est = model(emptyWindow(q, deps.now()), 1);
      if (!est) continue;
      if (await store.readEstimate(q)) continue;
      const res = await store.writeEstimate(est, { seed: true, minRevision: await publishedRevision(q) });
      if (res.written) {
        seeded += 1;
        await publish(res.estimate);
      }
    }
    return seeded;
  }

  return {
    refresh,
    seedPriors,
    /** Refreshes every catalogued queue (after boot or rebuild), a few at a time. */
    refreshAll: async (): Promise<number> => {
      const queues = catalogue.queues();
      let published = 0;
      for (let i = 0; i < queues.length; i += 4) {
        const res = await Promise.all(queues.slice(i, i + 4).map((q) => refresh(q)));
        published += res.filter((r) => r === 'published').length;
      }
      return published;
    },
    /** Forgets the cached estimates and the store's kept windows (a rebuild, a partition taken over). */
    clearCache: () => {
      cache.clear();
      store.clearWindowCache();
    },
  };
}
export type Publisher = ReturnType<typeof createPublisher>;
