/**
 * The estimator service, importable without side effects: a JetStream durable pull consumer on the events stream
 * that applies each event to the queue store (one atomic Lua call), acks after the call returned, and after each
 * fetched batch recomputes and publishes the estimate of every touched queue once.
 *
 * Lifecycle: start() = ensure streams + consumer, rebuild if the store has no initialised marker, otherwise seed
 * cold-start estimates and refresh; then the fetch loop. If the marker disappears while running (Redis restarted
 * empty), the loop stops fetching and rebuilds: the durable consumer is deleted and re-created from the start of
 * the stream and every event is re-applied (idempotent), then the marker is written and consuming resumes.
 * stop() is idempotent and bounded by the fetch expiry plus in-flight work; the caller then drains NATS and quits Redis.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { subjects, type KezekEvent } from '../../shared/events/index.ts';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import type { Logger } from '../../shared/logger.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { queueKey } from '../../shared/estimates.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { createQueueStore, type QueueStore, type QueueStoreOptions } from '../../shared/queue-store/store.ts';
import { CONSUMER_DEFAULTS, deleteConsumer, ensureConsumer, type ConsumerOptions } from './consumer.ts';
import { processMessage, settle, type MessageContext, type Outcome, type Settlement } from './messages.ts';
import { createPublisher } from './publish.ts';

export interface EstimatorDeps {
  nc: NatsConnection;
  redis: Redis;
  catalogue: Catalogue;
  /** KEZEK_PREFIX: streams, subjects and Redis keys. */
  prefix: string;
  logger: Logger;
  /** PSEUDONYM_KEY: vehicle refs are pseudonymised again (idempotent) before anything is stored. */
  pseudonymKey: string;
  staleAfterMs?: number;
  /** Messages per fetch. */
  batchSize?: number;
  /** Messages of a batch processed at the same time (state is order-independent, so any interleaving is fine). */
  concurrency?: number;
  /** How long a fetch waits for messages (>= 1000 ms); bounds shutdown and marker-check latency. */
  fetchExpiresMs?: number;
  /** Republish an unchanged estimate after this much event time. */
  republishEveryMs?: number;
  progressEveryMs?: number;
  consumer?: Partial<Omit<ConsumerOptions, 'prefix'>>;
  store?: Partial<Omit<QueueStoreOptions, 'redis' | 'prefix' | 'model'>>;
  /** Wall clock (validation of future times, updatedAt). */
  now?: () => number;
  /** Test seam: called after the store call, before settling (a test can hang here to simulate a crash). */
  beforeSettle?: (m: JsMsg, outcome: Outcome) => Promise<void> | void;
}

export interface EstimatorStats {
  received: number;
  applied: number;
  duplicates: number;
  deadLettered: number;
  retried: number;
  published: number;
  rebuilds: number;
}

export interface RebuildReport {
  reason: string;
  events: number;
  durationMs: number;
}

export interface Estimator {
  readonly store: QueueStore;
  start(): Promise<void>;
  /** Stops fetching, finishes in-flight messages and the batch's estimate refresh. Safe to call twice. */
  stop(): Promise<void>;
  /** Re-applies the whole events stream from the start (idempotent) and writes the initialised marker. */
  rebuild(reason?: string): Promise<RebuildReport>;
  stats(): EstimatorStats;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The queues whose estimate an event can change. A status without direction/class touches all of its scope. */
export function queuesTouchedBy(ev: KezekEvent, catalogue: Catalogue): QueueRef[] {
  if (ev.type !== 'crossing.status') return [{ crossingId: ev.crossingId, direction: ev.direction, vehicleClass: ev.vehicleClass }];
  return catalogue
    .queues()
    .filter((q) => q.crossingId === ev.crossingId && (ev.direction === undefined || ev.direction === q.direction) && (ev.vehicleClass === undefined || ev.vehicleClass === q.vehicleClass));
}

export function createEstimator(deps: EstimatorDeps): Estimator {
  const log = deps.logger.child({ component: 'estimator' });
  const now = deps.now ?? Date.now;
  const s = subjects(deps.prefix);
  const batchSize = deps.batchSize ?? 256;
  const concurrency = deps.concurrency ?? 8;
  const fetchExpiresMs = Math.max(1000, deps.fetchExpiresMs ?? 1000); // the client refuses less
  const consumerOpts: ConsumerOptions = { ...CONSUMER_DEFAULTS, ...deps.consumer, prefix: deps.prefix };
  const store = createQueueStore({ redis: deps.redis, prefix: deps.prefix, ...deps.store });
  const js: JetStreamClient = jetstream(deps.nc);
  const publisher = createPublisher({
    store,
    js,
    catalogue: deps.catalogue,
    prefix: deps.prefix,
    logger: log,
    staleAfterMs: deps.staleAfterMs ?? 15 * 60_000,
    republishEveryMs: deps.republishEveryMs ?? 10 * 60_000,
    now,
  });
  const msgCtx: MessageContext = { store, catalogue: deps.catalogue, pseudonymKey: deps.pseudonymKey, js, prefix: deps.prefix, maxDeliver: consumerOpts.maxDeliver, now };

  const stats: EstimatorStats = { received: 0, applied: 0, duplicates: 0, deadLettered: 0, retried: 0, published: 0, rebuilds: 0 };
  let jsm: JetStreamManager | undefined;
  let running = false;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let boot: Promise<void> | undefined;
  let stopPromise: Promise<void> | undefined;
  let current: ConsumerMessages | undefined;
  let progressTimer: NodeJS.Timeout | undefined;
  let pendingRebuild: { reason: string; resolve: (r: RebuildReport) => void; reject: (e: unknown) => void; promise: Promise<RebuildReport> } | undefined;

  async function init(): Promise<JetStreamManager> {
    if (!jsm) {
      jsm = await ensureStreams(deps.nc, { prefix: deps.prefix });
      await ensureConsumer(jsm, consumerOpts);
    }
    return jsm;
  }

  function count(outcome: Outcome, settlement: Settlement) {
    if (settlement === 'acked') {
      if (outcome.kind === 'applied') stats.applied += 1;
      else stats.duplicates += 1;
    } else if (settlement === 'dead-lettered') {
      stats.deadLettered += 1;
      if (outcome.kind === 'poison') log.warn({ reason: outcome.reason, crossingId: outcome.crossingId, issues: outcome.issues }, 'event dead-lettered');
      else log.error({ err: outcome.kind === 'transient' ? outcome.error : undefined }, 'event dead-lettered after the last delivery');
    } else stats.retried += 1;
  }

  /**
   * One fetch: every message is decided and settled by a small pool, then (unless replaying for a rebuild) the
   * touched queues are refreshed once. Returns how many messages it saw and whether a transient error happened.
   */
  async function cycle(refresh: boolean): Promise<{ messages: number; transient: boolean }> {
    const consumer = await js.consumers.get(s.eventsStream, s.estimatorDurable);
    const msgs = await consumer.fetch({ max_messages: batchSize, expires: fetchExpiresMs });
    current = msgs;
    const touched = new Map<string, QueueRef>();
    const inflight = new Set<Promise<void>>();
    let messages = 0;
    let transient = false;
    const handle = async (m: JsMsg) => {
      const outcome = await processMessage(m, msgCtx);
      if (deps.beforeSettle) await deps.beforeSettle(m, outcome);
      const settlement = await settle(m, outcome, msgCtx);
      count(outcome, settlement);
      if (outcome.kind === 'transient') transient = true;
      // duplicates too: a crash between the Lua call and the ack left the estimate unrefreshed
      if (outcome.kind === 'applied' || outcome.kind === 'duplicate') {
        for (const q of queuesTouchedBy(outcome.event, deps.catalogue)) touched.set(queueKey(q), q);
      }
    };
    try {
      for await (const m of msgs) {
        messages += 1;
        stats.received += 1;
        const p: Promise<void> = handle(m)
          .catch((err: unknown) => log.error({ err }, 'message handling failed'))
          .finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= concurrency) await Promise.race(inflight);
      }
    } finally {
      await Promise.all(inflight);
      current = undefined;
    }
    if (refresh && touched.size > 0) {
      const queues = [...touched.values()];
      for (let i = 0; i < queues.length; i += 4) {
        const res = await Promise.all(queues.slice(i, i + 4).map((q) => publisher.refresh(q)));
        stats.published += res.filter((r) => r === 'published').length;
      }
    }
    return { messages, transient };
  }

  /** After a transient failure, probe Redis instead of burning deliveries. */
  async function waitForRedis(): Promise<void> {
    let delay = 250;
    while (!stopping) {
      try {
        await deps.redis.ping();
        return;
      } catch {
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  async function doRebuild(reason: string): Promise<RebuildReport> {
    const started = Date.now();
    const manager = await init();
    log.warn({ reason }, 'rebuilding the queue store from the events stream');
    stats.rebuilds += 1;
    await deleteConsumer(manager, deps.prefix);
    await ensureConsumer(manager, consumerOpts);
    publisher.clearCache();
    let events = 0;
    while (!stopping) {
      const { messages, transient } = await cycle(false);
      events += messages;
      if (transient) await waitForRedis();
      if (messages > 0) continue;
      const info = await manager.consumers.info(s.eventsStream, s.estimatorDurable);
      if (info.num_pending === 0 && info.num_ack_pending === 0) break;
    }
    if (stopping) throw new Error('rebuild interrupted by shutdown');
    await publisher.seedPriors();
    stats.published += await publisher.refreshAll();
    await store.markInitialised();
    const report = { reason, events, durationMs: Date.now() - started };
    log.info(report, 'rebuild finished');
    return report;
  }

  async function runLoop(): Promise<void> {
    let errorDelay = 250;
    while (!stopping) {
      try {
        if (pendingRebuild) {
          const p = pendingRebuild;
          try {
            p.resolve(await doRebuild(p.reason));
          } catch (err) {
            p.reject(err);
          } finally {
            pendingRebuild = undefined;
          }
          continue;
        }
        if (!(await store.isInitialised())) {
          await doRebuild('initialised marker missing (Redis lost its data?)');
          continue;
        }
        const { transient } = await cycle(true);
        if (transient) await waitForRedis();
        errorDelay = 250;
      } catch (err) {
        if (stopping) break;
        log.warn({ err }, 'estimator cycle failed; retrying');
        await sleep(errorDelay);
        errorDelay = Math.min(errorDelay * 2, 5000);
      }
    }
  }

  function startProgress() {
    const every = deps.progressEveryMs ?? 5000;
    let lastCount = stats.received;
    let lastAt = Date.now();
    progressTimer = setInterval(() => {
      const n = stats.received - lastCount;
      const t = Date.now();
      if (n > 0) log.info({ events: n, perSecond: Math.round((n * 1000) / (t - lastAt)), ...stats }, 'progress');
      lastCount = stats.received;
      lastAt = t;
    }, every);
    progressTimer.unref();
  }

  return {
    store,
    stats: () => ({ ...stats }),
    start() {
      if (boot) return boot;
      running = true;
      boot = (async () => {
        await init();
        if (!(await store.isInitialised())) {
          await doRebuild('no initialised marker at boot');
        } else {
          await publisher.seedPriors();
          stats.published += await publisher.refreshAll();
        }
        if (stopping) return;
        startProgress();
        loop = runLoop();
        log.info({ durable: s.estimatorDurable, stream: s.eventsStream }, 'estimator consuming');
      })();
      return boot;
    },
    stop() {
      stopPromise ??= (async () => {
        stopping = true;
        if (progressTimer) clearInterval(progressTimer);
        current?.stop();
        await boot?.catch(() => undefined); // a stop during boot waits for the interrupted rebuild to unwind
        await loop;
        pendingRebuild?.reject(new Error('estimator stopped'));
        running = false;
        log.info({ ...stats }, 'estimator stopped');
      })();
      return stopPromise;
    },
    rebuild(reason = 'requested') {
      if (!running) return doRebuild(reason);
      if (!pendingRebuild) {
        let resolve!: (r: RebuildReport) => void;
        let reject!: (e: unknown) => void;
        const promise = new Promise<RebuildReport>((res, rej) => {
          resolve = res;
          reject = rej;
        });
        pendingRebuild = { reason, resolve, reject, promise };
      }
      return pendingRebuild.promise;
    },
  };
}
