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
 *
 * With `partitioning: 'crossing'` (several instances, docs/scale-out.md) there is one durable consumer per crossing
 * and each instance consumes only the crossings it holds a Redis lease on (partitions.ts). A partition without its
 * ready marker (first boot, Redis lost its data) is replayed by its owner from the start of the stream; the global
 * initialised marker is written once every partition is ready.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type Consumer, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import type { Redis } from 'ioredis';
import { subjects, type KezekEvent } from '../../shared/events/index.ts';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import type { Logger } from '../../shared/logger.ts';
import { ensureStreams } from '../../shared/nats.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { createQueueStore, type QueueStore, type QueueStoreOptions } from '../../shared/queue-store/store.ts';
import { CONSUMER_DEFAULTS, deleteConsumer, durableName, ensureConsumer, type ConsumerOptions } from './consumer.ts';
import { createLeaseStore } from '../../shared/leases/store.ts';
import { createPartitionManager, DEFAULT_LEASE_MS, newInstanceId, type PartitionManager } from './partitions.ts';
import { decodeMessage, processMessage, settle, type Decoded, type MessageContext, type Outcome, type Settlement } from './messages.ts';
import { CumulativeAcks } from './acks.ts';
import { createPublisher } from './publish.ts';
import { createRefresher } from './refresher.ts';

/** Events whose effect officials and drivers must see at once: they skip the refresh interval. */
const URGENT_TYPES = new Set<KezekEvent['type']>(['lanes.changed', 'crossing.status', 'queue.observed']);

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
  /** STALE_QUIET_MAX_SECONDS in ms: the latest a quiet queue turns stale (shared/estimation/staleness.ts). */
  maxSilenceMs?: number;
  /** Events per fetch (default 512): a fetch asks for this many messages divided by the events per message seen lately. */
  batchSize?: number;
  /** Events in progress at the same time (state is order-independent, so any interleaving is fine); a batch message counts as its events. Default 256: their Lua calls share pipelines. */
  concurrency?: number;
  /** How long a fetch waits for messages (>= 1000 ms); bounds shutdown and marker-check latency. */
  fetchExpiresMs?: number;
  /** Minimum wall-clock interval between two refreshes of one busy queue (urgent events skip it). Default 1000. */
  refreshIntervalMs?: number;
  /** Republish an unchanged estimate after this much event time. */
  republishEveryMs?: number;
  progressEveryMs?: number;
  consumer?: Partial<Omit<ConsumerOptions, 'prefix'>>;
  store?: Partial<Omit<QueueStoreOptions, 'redis' | 'prefix' | 'model'>>;
  /** Wall clock (validation of future times, updatedAt). */
  now?: () => number;
  /** `off`: one durable consumer for the whole stream. `crossing`: one per crossing, shared out by Redis leases. */
  partitioning?: 'off' | 'crossing';
  /** Instance id in leases and logs (default host-pid-random). */
  instanceId?: string;
  /** Lease lifetime of a partition (crossing mode); a dead instance's crossings move after about this long. */
  leaseMs?: number;
  /** Stream replicas (NATS_REPLICAS) when this instance creates or updates the streams. */
  replicas?: number;
  /** Test seam: called after the store calls, before settling (a test can hang here to simulate a crash). */
  beforeSettle?: (m: JsMsg, outcomes: readonly Outcome[]) => Promise<void> | void;
}

export interface EstimatorStats {
  /** Messages received (a batch message counts once; its events count in applied / duplicates / deadLettered). */
  received: number;
  /** Events in the messages received (a batch message counts as its events). */
  receivedEvents: number;
  applied: number;
  duplicates: number;
  deadLettered: number;
  /**
   * Of deadLettered: letters the DLQ already held (a rebuild or partition replay met the same poison event again;
   * stored once, shared/nats.ts DLQ_MAX_AGE_MS).
   */
  deadLettersAlreadyStored: number;
  retried: number;
  published: number;
  /** Background estimate refreshes run (published or not). */
  refreshes: number;
  /** Queues waiting for (or in) a background refresh right now: 0 = every applied event is in the estimates. */
  refreshPending: number;
  /** Events the consumer still has to apply (left in the stream, estimated from the events per message so far, + in progress), as last seen; the largest over partitions. */
  backlog: number;
  rebuilds: number;
  /** Partition replays (crossing mode). */
  partitionReplays: number;
  /**
   * Consumers re-created at their ack floor because a message failed on its last allowed delivery and could not be
   * dead-lettered either (acks.ts "stranded"): each one is an outage that outlasted the redeliveries; alert on it.
   */
  strandedRewinds: number;
  /** Consumers created again at their kept ack floor after a re-creation was interrupted (consumer.ts, kept floors). */
  floorResumes: number;
  /** Window reads of the refreshes: whole windows, and delta reads of only what came after the kept window. */
  windowReadsFull: number;
  windowReadsDelta: number;
  /** apply-events calls and the queue events they carried (shared/queue-store/store.ts applyCalls). */
  applyCalls: number;
  applyCallEvents: number;
}

export interface RebuildReport {
  reason: string;
  events: number;
  durationMs: number;
  /** Poison events the rebuild met, and how many of them the DLQ already held a letter for (not stored again). */
  deadLettered: number;
  deadLettersAlreadyStored: number;
}

export interface Estimator {
  readonly store: QueueStore;
  start(): Promise<void>;
  /** Stops fetching, finishes in-flight messages and the batch's estimate refresh. Safe to call twice. */
  stop(): Promise<void>;
  /** Re-applies the whole events stream from the start (idempotent) and writes the initialised marker. */
  rebuild(reason?: string): Promise<RebuildReport>;
  stats(): EstimatorStats;
  /** Crossings this instance consumes (crossing mode), else []. */
  partitions(): string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The queues whose estimate an event can change. A status without direction/class touches all of its scope. */
export function queuesTouchedBy(ev: KezekEvent, catalogue: Catalogue): QueueRef[] {
  if (ev.type !== 'crossing.status') return [{ crossingId: ev.crossingId, direction: ev.direction, vehicleClass: ev.vehicleClass }];
  return catalogue
    .queues()
    .filter((q) => q.crossingId === ev.crossingId && (ev.direction === undefined || ev.direction === q.direction) && (ev.vehicleClass === undefined || ev.vehicleClass === q.vehicleClass));
}

/** How often the consume loop checks the store's initialised marker (Redis lost its data -> rebuild). */
const MARKER_CHECK_EVERY_MS = 1000;
/** Poison events logged one by one per minute; the rest are summed up (see logDeadLetter). */
const DLQ_LOGGED_PER_MINUTE = 10;
/** How often a replay (rebuild, partition replay) reports how far it is. */
const REPLAY_PROGRESS_EVERY_MS = 5000;

export function createEstimator(deps: EstimatorDeps): Estimator {
  const log = deps.logger.child({ component: 'estimator' });
  const now = deps.now ?? Date.now;
  const s = subjects(deps.prefix);
  const batchSize = deps.batchSize ?? 512;
  const concurrency = deps.concurrency ?? 256;
  const fetchExpiresMs = Math.max(1000, deps.fetchExpiresMs ?? 2000); // the client refuses less than 1 s; its idle heartbeat is half the expiry, so a longer fetch rides out a busy CPU
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
    maxSilenceMs: deps.maxSilenceMs,
    republishEveryMs: deps.republishEveryMs ?? 10 * 60_000,
    now,
  });
  const msgCtx: MessageContext = {
    store,
    catalogue: deps.catalogue,
    pseudonymKey: deps.pseudonymKey,
    js,
    prefix: deps.prefix,
    maxDeliver: consumerOpts.maxDeliver,
    now,
    onLetterAlreadyStored: () => {
      stats.deadLettersAlreadyStored += 1;
    },
  };
  const refresher = createRefresher({
    refresh: (q) => publisher.refresh(q),
    minIntervalMs: deps.refreshIntervalMs ?? 1000,
    // One refresh at a time: under overload refreshes then spread out by themselves (each waits for Redis behind the
    // apply traffic) instead of taking CPU from applying events; an urgent change waits for at most the refresh in
    // progress. With 4 at a time, a 15k-event burst ran ~4x as many refreshes (bench ingest row) for the same events.
    concurrency: 1,
    logger: log,
    onResult: (r) => {
      stats.refreshes += 1;
      if (r === 'published') stats.published += 1;
    },
  });
  /** Consumer handles by durable name: `consumers.get` costs an API round trip, so it is done once per durable. */
  const consumerHandles = new Map<string, Consumer>();
  /** The cumulative-ack state of each durable this instance consumes (acks.ts), replaced whenever the consumer is (re-)created. */
  const ackStates = new Map<string, CumulativeAcks>();

  // refreshPending and backlog are read from the refresher when asked (stats()), not kept here
  const stats: Omit<EstimatorStats, 'refreshPending' | 'backlog' | 'windowReadsFull' | 'windowReadsDelta' | 'applyCalls' | 'applyCallEvents'> = { received: 0, receivedEvents: 0, applied: 0, duplicates: 0, deadLettered: 0, deadLettersAlreadyStored: 0, retried: 0, published: 0, refreshes: 0, rebuilds: 0, partitionReplays: 0, strandedRewinds: 0, floorResumes: 0 };
  const partitioned = deps.partitioning === 'crossing';
  const leases = createLeaseStore(deps.redis, deps.prefix);
  const crossingIds = [...new Set(deps.catalogue.queues().map((q) => q.crossingId))].sort();
  /** Running partition loops: crossing -> stop flag and the loop's promise. */
  const partitionLoops = new Map<string, { stopped: boolean; done: Promise<void> }>();
  let partitionManager: PartitionManager | undefined;
  let jsm: JetStreamManager | undefined;
  let running = false;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let boot: Promise<void> | undefined;
  let stopPromise: Promise<void> | undefined;
  /** The open fetch of each durable (one in `off` mode, one per owned crossing otherwise), so stop() can end it. */
  const current = new Map<string, ConsumerMessages>();
  let progressTimer: NodeJS.Timeout | undefined;
  let pendingRebuild: { reason: string; resolve: (r: RebuildReport) => void; reject: (e: unknown) => void; promise: Promise<RebuildReport> } | undefined;

  async function init(): Promise<JetStreamManager> {
    if (!jsm) {
      const manager = await ensureStreams(deps.nc, { prefix: deps.prefix, replicas: deps.replicas });
      // the events stream's identity goes into dead letters' msgIDs (messages.ts deadLetterMsgId)
      const created = Date.parse((await manager.streams.info(s.eventsStream)).created);
      msgCtx.eventsStreamCreatedMs = Number.isFinite(created) ? created : undefined;
      jsm = manager;
      // crossing mode: each partition's consumer is ensured by its owner
      if (!partitioned) await prepareConsumer(jsm);
    }
    return jsm;
  }

  /**
   * Ensures a durable consumer (consumer.ts; `rewind`: re-created at its ack floor) and starts its ack state afresh
   * from the delivery sequence its next message will carry.
   */
  async function prepareConsumer(manager: JetStreamManager, crossingId?: string, rewind?: 'lost' | 'stranded'): Promise<void> {
    const durable = durableName(deps.prefix, crossingId);
    const { next, resumedAfter, staleFloor } = await ensureConsumer(manager, consumerOpts, crossingId, { rewind: rewind !== undefined, floor: store.consumerFloor(crossingId) });
    consumerHandles.delete(durable);
    ackStates.set(durable, new CumulativeAcks(next, consumerOpts.maxDeliver));
    if (resumedAfter !== undefined) {
      stats.floorResumes += 1;
      log.warn({ durable, after: resumedAfter }, 'consumer missing after an interrupted re-creation: created again at its kept ack floor');
    }
    if (staleFloor) log.warn({ durable, staleFloor }, 'kept ack floor belongs to an earlier events stream of the same name: ignored, consumer created from the first event');
    if (rewind === 'lost') log.warn({ durable }, 'a delivery was lost: consumer re-created at its ack floor (what follows is applied again, idempotently)');
    else if (rewind === 'stranded') {
      stats.strandedRewinds += 1;
      log.error({ durable, maxDeliver: consumerOpts.maxDeliver }, 'an event failed on its last allowed delivery and could not be dead-lettered: consumer re-created at its ack floor, so it is delivered again (what follows is applied again, idempotently)');
    }
  }

  /**
   * Poison events are logged one by one up to DLQ_LOGGED_PER_MINUTE a minute; beyond that they are counted by reason
   * and summed up in one line (a replay of a bad day dead-letters thousands: one warn line each buried everything
   * else). The dead letters themselves are all on the DLQ stream (`npm run dlq -- stats`).
   */
  const dlqLog = { windowStart: 0, logged: 0, suppressed: new Map<string, number>() };
  function flushDeadLetterLog(): void {
    if (dlqLog.suppressed.size === 0) return;
    const byReason = Object.fromEntries(dlqLog.suppressed);
    const more = [...dlqLog.suppressed.values()].reduce((a, b) => a + b, 0);
    dlqLog.suppressed.clear();
    log.warn({ more, byReason }, `${more} more events dead-lettered, not logged one by one (npm run dlq -- stats)`);
  }
  function logDeadLetter(reason: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - dlqLog.windowStart >= 60_000) {
      flushDeadLetterLog();
      dlqLog.windowStart = now;
      dlqLog.logged = 0;
    }
    if (dlqLog.logged < DLQ_LOGGED_PER_MINUTE) {
      dlqLog.logged += 1;
      log.warn({ reason, ...fields }, 'event dead-lettered');
    } else dlqLog.suppressed.set(reason, (dlqLog.suppressed.get(reason) ?? 0) + 1);
  }

  /**
   * A message put back for a transient failure (Redis down, out of memory, read-only replica ...) is warned about at
   * most once every 10 s, with how many were put back meanwhile: before, nothing was logged until the last allowed
   * delivery dead-lettered it, minutes later.
   */
  const retryLog = { lastAt: 0, since: 0 };
  function logRetry(outcomes: readonly Outcome[]): void {
    retryLog.since += 1;
    const now = Date.now();
    if (now - retryLog.lastAt < 10_000) return;
    const failed = outcomes.find((o) => o.kind === 'transient');
    log.warn({ err: failed?.kind === 'transient' ? { message: failed.error.message } : undefined, messages: retryLog.since, retriedTotal: stats.retried }, 'applying events failed; messages put back for redelivery (transient)');
    retryLog.lastAt = now;
    retryLog.since = 0;
  }

  /** Per event, except a retried message: it counts once, and its events count when a redelivery settles them. */
  function count(outcomes: readonly Outcome[], settlement: Settlement) {
    if (settlement === 'retried') {
      stats.retried += 1;
      logRetry(outcomes);
      return;
    }
    for (const o of outcomes) {
      switch (o.kind) {
        case 'applied':
          stats.applied += 1;
          break;
        case 'duplicate':
          stats.duplicates += 1;
          break;
        case 'poison':
          stats.deadLettered += 1;
          logDeadLetter(o.reason, { crossingId: o.crossingId, issues: o.issues, ...(o.index === undefined ? {} : { index: o.index }) });
          break;
        case 'transient':
          stats.deadLettered += 1;
          log.error({ err: o.error }, 'event dead-lettered after the last delivery');
      }
    }
  }

  /** Events per message lately, by durable (1 for a stream of one-event messages; batch messages hold up to 100). */
  const eventsPerMessage = new Map<string, number>();

  /**
   * One fetch: every message is decided and settled by a small pool; unless replaying for a rebuild, the touched
   * queues go to the background refresher. Whenever nothing is in flight (and at the end), one cumulative ack
   * passes every message settled so far (acks.ts). Returns how many messages and events it saw, whether it got as
   * many messages as it asked for, and whether a transient error happened.
   */
  async function cycle(refresh: boolean, crossingId?: string): Promise<{ messages: number; events: number; full: boolean; transient: boolean }> {
    const durable = durableName(deps.prefix, crossingId);
    const scope = crossingId ?? '*';
    // every path that creates or takes a consumer prepares it; a lost delivery or a stranded message (acks.ts)
    // re-creates it at its ack floor
    const known = ackStates.get(durable);
    if (!known || known.lost || known.stranded) await prepareConsumer(await init(), crossingId, known === undefined ? undefined : known.lost ? 'lost' : 'stranded');
    const ackState = ackStates.get(durable)!;
    let consumer = consumerHandles.get(durable);
    if (!consumer) {
      consumer = await js.consumers.get(s.eventsStream, durable);
      consumerHandles.set(durable, consumer);
    }
    // about batchSize EVENTS per fetch: every message of a fetch waits for its end to be acked (ack_wait), and batch
    // messages would otherwise make a fetch of 512 messages 51,200 events
    const perMessage = eventsPerMessage.get(durable) ?? 1;
    const want = Math.max(1, Math.min(batchSize, Math.round(batchSize / perMessage)));
    const msgs = await consumer.fetch({ max_messages: want, expires: fetchExpiresMs }).catch((err: unknown) => {
      consumerHandles.delete(durable);
      throw err;
    });
    current.set(durable, msgs);
    let messages = 0;
    let events = 0;
    /**
     * Events still in the stream, estimated at the latest message received: JetStream's num_pending (messages; its
     * info is parsed anyway, acks.ts reads its sequences) times the events per message of this fetch so far.
     */
    let pendingAtLatest = 0;
    // A counting semaphore: Promise.race over the whole in-flight set per message cost O(concurrency) allocations each
    let active = 0;
    let wake: (() => void) | undefined;
    let ackTimer: NodeJS.Immediate | undefined;
    const ackNow = () => {
      if (ackTimer) clearImmediate(ackTimer);
      ackTimer = undefined;
      if (active === 0) ackState.take()?.ack();
    };
    const release = (weight: number) => {
      active -= weight;
      if (active === 0) ackTimer ??= setImmediate(ackNow);
      // how much is still to apply (refreshes wait while that is a lot, refresher.ts): the events left in the
      // stream plus those in progress
      if (refresh) refresher.noteBacklog(scope, pendingAtLatest + active);
      const w = wake;
      wake = undefined;
      w?.();
    };
    const slotFreed = () => new Promise<void>((r) => (wake = r));
    let transient = false;
    const handle = async (m: JsMsg, decoded: Decoded) => {
      const outcomes = await processMessage(m, decoded, msgCtx);
      if (deps.beforeSettle) await deps.beforeSettle(m, outcomes);
      const settlement = await settle(m, outcomes, msgCtx);
      ackState.settled(m, settlement !== 'retried');
      count(outcomes, settlement);
      for (const outcome of outcomes) {
        if (outcome.kind === 'transient') transient = true;
        // duplicates too: a crash between the Lua call and the ack left the estimate unrefreshed
        else if (refresh && (outcome.kind === 'applied' || outcome.kind === 'duplicate')) {
          const urgent = URGENT_TYPES.has(outcome.event.type);
          for (const q of queuesTouchedBy(outcome.event, deps.catalogue)) refresher.enqueue(q, urgent);
        }
      }
    };
    try {
      for await (const m of msgs) {
        messages += 1;
        stats.received += 1;
        ackState.delivered(m);
        // the semaphore counts events: a batch message takes as many slots as it holds events (at least all of them
        // when nothing else is in flight)
        const decoded = decodeMessage(m, deps.prefix);
        const weight = 'items' in decoded ? decoded.items.length : 1;
        events += weight;
        stats.receivedEvents += weight;
        pendingAtLatest = Math.round((m.info.pending * events) / messages);
        while (active > 0 && active + weight > concurrency) await slotFreed();
        active += weight;
        void handle(m, decoded)
          .catch((err: unknown) => {
            ackState.settled(m, false); // unsettled: redelivered after ack_wait, and no cumulative ack passes it meanwhile
            log.error({ err }, 'message handling failed');
          })
          .finally(() => release(weight));
      }
    } finally {
      while (active > 0) await slotFreed();
      ackNow(); // no ack is held past its fetch (stop() drains NATS right after the last one)
      current.delete(durable);
      if (refresh && messages === 0) refresher.noteBacklog(scope, 0);
      if (messages > 0) eventsPerMessage.set(durable, (perMessage + events / messages) / 2);
    }
    return { messages, events, full: messages >= want, transient };
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

  /**
   * Re-applies what a durable has not acked yet, without refreshes, until everything the stream held up to
   * `targetSeq` (its last sequence when the replay began) is acked or nothing is pending. Checked after every fetch
   * that came back less than full, so producers publishing meanwhile (a steady trickle keeps every fetch non-empty)
   * do not hold the replay up: their events are the normal loop's. A failed fetch ("heartbeats missed" on a busy
   * machine, a NATS reconnect) is retried: the replay is idempotent. Returns the events seen (a batch message counts
   * as its events).
   */
  async function replayUntilCaught(manager: JetStreamManager, crossingId: string | undefined, targetSeq: number, stopped: () => boolean): Promise<number> {
    const durable = durableName(deps.prefix, crossingId);
    let events = 0;
    let messages = 0;
    let errorDelay = 250;
    const started = Date.now();
    let nextProgress = started + REPLAY_PROGRESS_EVERY_MS;
    const progress = async () => {
      const info = await manager.consumers.info(s.eventsStream, durable).catch(() => undefined);
      const elapsed = Math.max(1, Date.now() - started);
      const perSecond = Math.round((events * 1000) / elapsed);
      // the stream counts messages: the ETA is in messages per second too
      const remainingMessages = info ? info.num_pending + info.num_ack_pending : undefined;
      const messagesPerSecond = (messages * 1000) / elapsed;
      const etaSeconds = remainingMessages !== undefined && messagesPerSecond > 0 ? Math.ceil(remainingMessages / messagesPerSecond) : undefined;
      log.info({ durable, replayed: events, replayedMessages: messages, remainingMessages, perSecond, etaSeconds }, 'replay progress');
      flushDeadLetterLog();
    };
    while (!stopped()) {
      if (Date.now() >= nextProgress) {
        nextProgress = Date.now() + REPLAY_PROGRESS_EVERY_MS;
        await progress();
      }
      let res: Awaited<ReturnType<typeof cycle>>;
      try {
        res = await cycle(false, crossingId);
        errorDelay = 250;
      } catch (err) {
        log.warn({ err, durable }, 'replay fetch failed; retrying');
        await sleep(errorDelay);
        errorDelay = Math.min(errorDelay * 2, 5000);
        continue;
      }
      events += res.events;
      messages += res.messages;
      if (res.transient) await waitForRedis();
      if (res.full) continue; // a full fetch: more is waiting
      const info = await manager.consumers.info(s.eventsStream, durable);
      if (info.num_ack_pending === 0 && (info.num_pending === 0 || info.ack_floor.stream_seq >= targetSeq)) break;
    }
    return events;
  }

  async function doRebuild(reason: string): Promise<RebuildReport> {
    const started = Date.now();
    const manager = await init();
    // a first start (nothing in the stream yet) is routine; a rebuild with events to re-apply means the store was lost
    const state = await manager.streams.info(s.eventsStream).then((i) => i.state, () => undefined);
    const streamed = state?.messages;
    const targetSeq = state?.last_seq ?? 0;
    if (streamed === 0) log.info({ reason }, 'initialising the queue store (the events stream is empty)');
    else log.warn({ reason, streamMessages: streamed }, 'rebuilding the queue store from the events stream');
    stats.rebuilds += 1;
    await deleteConsumer(manager, deps.prefix, undefined, store.consumerFloor());
    consumerHandles.clear();
    await prepareConsumer(manager);
    publisher.clearCache();
    const letters = { dead: stats.deadLettered, stored: stats.deadLettersAlreadyStored };
    const events = await replayUntilCaught(manager, undefined, targetSeq, () => stopping);
    flushDeadLetterLog();
    if (stopping) throw new Error('rebuild interrupted by shutdown');
    await publisher.seedPriors();
    stats.published += await publisher.refreshAll();
    await store.markInitialised();
    const report: RebuildReport = {
      reason,
      events,
      durationMs: Date.now() - started,
      deadLettered: stats.deadLettered - letters.dead,
      deadLettersAlreadyStored: stats.deadLettersAlreadyStored - letters.stored,
    };
    log.info(report, 'rebuild finished');
    return report;
  }

  async function refreshCrossing(crossingId: string): Promise<void> {
    for (const q of deps.catalogue.queues().filter((x) => x.crossingId === crossingId)) {
      if ((await publisher.refresh(q)) === 'published') stats.published += 1;
    }
  }

  /** Writes the global initialised marker once every partition has been replayed into this Redis. */
  async function markInitialisedIfComplete(): Promise<void> {
    for (const c of crossingIds) if (!(await leases.isReady(c))) return;
    if (!(await store.isInitialised())) {
      await store.markInitialised();
      log.info({ partitions: crossingIds.length }, 'every partition is ready: store marked initialised');
    }
  }

  /**
   * Rebuild of one partition: its consumer is re-created from the start of the stream, its events re-applied
   * (idempotent), its queues refreshed, then its ready marker written. Abandoned when the partition is lost or the
   * estimator stops (the ready marker stays absent; the next owner resumes the replay).
   */
  async function replayPartition(crossingId: string, ctl: { stopped: boolean }): Promise<void> {
    const manager = await init();
    const started = Date.now();
    log.info({ crossingId }, 'replaying partition from the start of the stream');
    stats.partitionReplays += 1;
    // The replaying marker lives in the same Redis (same slot) as the state: while it exists, every event the
    // consumer acked was applied to this Redis, so an interrupted replay resumes from the consumer's position.
    // Without it (first replay, or Redis lost its data since) the consumer starts again from the first event.
    if (await leases.isReplaying(crossingId)) {
      await prepareConsumer(manager, crossingId);
    } else {
      await deleteConsumer(manager, deps.prefix, crossingId, store.consumerFloor(crossingId));
      await prepareConsumer(manager, crossingId);
      await leases.markReplaying(crossingId, true);
    }
    const targetSeq = await manager.streams.info(s.eventsStream).then((i) => i.state.last_seq, () => 0);
    const events = await replayUntilCaught(manager, crossingId, targetSeq, () => stopping || ctl.stopped);
    if (stopping || ctl.stopped) return;
    await publisher.seedPriors();
    await refreshCrossing(crossingId);
    await leases.markReady(crossingId);
    await leases.markReplaying(crossingId, false);
    log.info({ crossingId, events, durationMs: Date.now() - started }, 'partition replayed');
    await markInitialisedIfComplete();
  }

  /** The fetch loop of one owned crossing; ends when the partition is lost or the estimator stops. */
  async function runPartition(crossingId: string, ctl: { stopped: boolean }): Promise<void> {
    let ensured = false;
    let errorDelay = 250;
    while (!stopping && !ctl.stopped) {
      try {
        if (!(await leases.isReady(crossingId))) {
          await replayPartition(crossingId, ctl);
          ensured = true;
          continue;
        }
        if (!ensured) {
          await prepareConsumer(await init(), crossingId);
          ensured = true;
          // the previous owner may have died between a Lua call and its refresh
          await refreshCrossing(crossingId);
        }
        const { transient } = await cycle(true, crossingId);
        if (transient) await waitForRedis();
        errorDelay = 250;
      } catch (err) {
        if (stopping || ctl.stopped) break;
        log.warn({ err, crossingId }, 'partition cycle failed; retrying');
        await sleep(errorDelay);
        errorDelay = Math.min(errorDelay * 2, 5000);
      }
    }
  }

  function startPartition(crossingId: string): void {
    if (partitionLoops.has(crossingId)) return;
    // the previous owner may have published since this instance last cached an estimate of these queues
    publisher.clearCache();
    const ctl = { stopped: false, done: Promise.resolve() };
    ctl.done = runPartition(crossingId, ctl).catch((err: unknown) => log.error({ err, crossingId }, 'partition loop failed'));
    partitionLoops.set(crossingId, ctl);
  }

  async function stopPartition(crossingId: string): Promise<void> {
    const ctl = partitionLoops.get(crossingId);
    if (!ctl) return;
    // let the current fetch end on its own (at most fetchExpiresMs) and its batch settle, so a hand-over leaves
    // no fetched-but-unacked messages waiting for ack_wait; stop() ends the fetches itself for a fast shutdown
    ctl.stopped = true;
    await ctl.done;
    partitionLoops.delete(crossingId);
  }

  async function runLoop(): Promise<void> {
    let errorDelay = 250;
    let markerCheckedAt = -Infinity;
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
        // the marker is checked at most once a second, not per fetch (a Redis round trip per fetch under load);
        // events applied to an emptied Redis in between are applied again by the rebuild (idempotent)
        if (Date.now() - markerCheckedAt >= MARKER_CHECK_EVERY_MS) {
          if (!(await store.isInitialised())) {
            await doRebuild('initialised marker missing (Redis lost its data?)');
            continue;
          }
          markerCheckedAt = Date.now();
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

  /**
   * Crossing mode. Running: drop every partition's ready marker, so each owner replays its crossings (the report
   * counts no events: the replays run in the partition loops). Not running (CLI): the full single-consumer rebuild,
   * then every partition is marked ready (their consumers keep their positions; anything they have not acked yet is
   * applied again, a no-op) and the single consumer is deleted.
   */
  async function rebuildPartitioned(reason: string): Promise<RebuildReport> {
    const started = Date.now();
    if (running) {
      for (const c of crossingIds) await leases.clearReady(c);
      log.warn({ reason }, 'partition ready markers cleared: the owners replay their crossings');
      return { reason, events: 0, durationMs: Date.now() - started, deadLettered: 0, deadLettersAlreadyStored: 0 };
    }
    const manager = await init();
    const report = await doRebuild(reason);
    for (const c of crossingIds) await leases.markReady(c);
    await deleteConsumer(manager, deps.prefix, undefined, store.consumerFloor());
    consumerHandles.clear();
    return report;
  }

  function startProgress() {
    const every = deps.progressEveryMs ?? 5000;
    let lastCount = stats.receivedEvents;
    let lastAt = Date.now();
    progressTimer = setInterval(() => {
      const n = stats.receivedEvents - lastCount;
      const t = Date.now();
      if (n > 0) log.info({ events: n, perSecond: Math.round((n * 1000) / (t - lastAt)), backlog: refresher.backlog(), ...stats }, 'progress');
      flushDeadLetterLog();
      lastCount = stats.receivedEvents;
      lastAt = t;
    }, every);
    progressTimer.unref();
  }

  return {
    store,
    stats: () => {
      const reads = store.windowReads();
      const calls = store.applyCalls();
      return { ...stats, refreshPending: refresher.pending(), backlog: refresher.backlog(), windowReadsFull: reads.full, windowReadsDelta: reads.delta, applyCalls: calls.calls, applyCallEvents: calls.events };
    },
    partitions: () => partitionManager?.owned() ?? [],
    start() {
      if (boot) return boot;
      running = true;
      boot = (async () => {
        await init();
        if (partitioned) {
          // no global rebuild: each partition's owner replays it when its ready marker is missing, and refreshes
          // its queues when it takes it (so instances do not recompute each other's crossings at boot)
          if (await store.isInitialised()) await publisher.seedPriors();
          if (stopping) return;
          startProgress();
          partitionManager = createPartitionManager({
            leases,
            partitions: crossingIds,
            instanceId: deps.instanceId ?? newInstanceId(),
            leaseMs: deps.leaseMs ?? DEFAULT_LEASE_MS,
            logger: log,
            onAcquired: startPartition,
            onLost: stopPartition,
          });
          await partitionManager.start();
          log.info({ stream: s.eventsStream, partitions: partitionManager.owned() }, 'estimator consuming (partitioned by crossing)');
          return;
        }
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
        for (const m of current.values()) m.stop();
        await boot?.catch(() => undefined); // a stop during boot waits for the interrupted rebuild to unwind
        await loop;
        await partitionManager?.stop(); // stops the partition loops, then releases the leases
        await refresher.close(); // publish what consumption touched last
        flushDeadLetterLog();
        pendingRebuild?.reject(new Error('estimator stopped'));
        running = false;
        log.info({ ...stats }, 'estimator stopped');
      })();
      return stopPromise;
    },
    rebuild(reason = 'requested') {
      if (partitioned) return rebuildPartitioned(reason);
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
