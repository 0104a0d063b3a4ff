/**
 * The estimator's durable pull consumer on the events stream: cumulative ack (AckPolicy.All, acks.ts), bounded
 * ack-pending, bounded redelivery with backoff. Created idempotently; re-created at its ack floor when deliveries
 * may have been lost (acks.ts); deleted and re-created from the start of the stream by rebuild.
 */
import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, ReplayPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager } from '@nats-io/jetstream';
import { subjects } from '../../shared/events/index.ts';
import type { ConsumerFloor, ConsumerFloorKeeper } from '../../shared/queue-store/store.ts';

export interface ConsumerOptions {
  prefix: string;
  /** First redelivery delay of an unacked message (a crashed or stuck worker); later ones back off. */
  ackWaitMs: number;
  /** Deliveries before the server gives up; the last delivery is dead-lettered by the estimator. */
  maxDeliver: number;
  maxAckPending: number;
}

export const CONSUMER_DEFAULTS = { ackWaitMs: 30_000, maxDeliver: 10, maxAckPending: 1024 } as const;

/** Redelivery schedule after ack_wait expiries: ackWait, 2x, 4x, ... capped at 10 min (server needs len < max_deliver). */
export function backoffMs(o: Pick<ConsumerOptions, 'ackWaitMs' | 'maxDeliver'>): number[] {
  const n = Math.max(1, Math.min(o.maxDeliver - 1, 6));
  return Array.from({ length: n }, (_, i) => Math.min(o.ackWaitMs * 2 ** i, 10 * 60_000));
}

/**
 * Durable name of one partition (ESTIMATOR_PARTITIONING=crossing): one consumer per crossing, filtered on
 * `<prefix>.v1.events.<crossingId>.>`. Without a crossing: the single consumer of the whole stream.
 */
export function durableName(prefix: string, crossingId?: string): string {
  const s = subjects(prefix);
  return crossingId === undefined ? s.estimatorDurable : `${s.estimatorDurable}-${crossingId}`;
}

export function consumerConfig(o: ConsumerOptions, crossingId?: string): Partial<ConsumerConfig> & { durable_name: string } {
  const s = subjects(o.prefix);
  return {
    durable_name: durableName(o.prefix, crossingId),
    // one ack for a whole settled batch (acks.ts); the estimator never acks past an unsettled message
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    replay_policy: ReplayPolicy.Instant,
    // The single consumer takes the whole stream, so it has no filter: on nats-server 2.9 a filter equal to the
    // stream's own subjects still cost 25-35 % more server CPU per delivered message (bench/experiments/
    // consumer-filter.ts: 10-11 vs 7.5-8.5 and 7.3 vs 5.5 ms per 1k messages). A partition's consumer filters on
    // its crossing.
    ...(crossingId === undefined ? {} : { filter_subject: s.eventsOfCrossing(crossingId) }),
    ack_wait: nanos(o.ackWaitMs),
    max_deliver: o.maxDeliver,
    backoff: backoffMs(o).map((ms) => nanos(ms)),
    max_ack_pending: o.maxAckPending,
  };
}

function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; apiError?: () => { err_code?: number } };
  return e?.apiError?.().err_code === 10014 || e?.code === 404 || /consumer not found/i.test(e?.message ?? '');
}

/*
 * Kept floors. A consumer's ack floor is kept while the consumer is deleted and re-created at it (nats-server 2.9
 * cannot move a consumer), in the same Redis as the state the floor vouches for (QueueStore.consumerFloor).
 * Without it, a crash between the delete and the add left no consumer, and the next start created one from the
 * start of the stream: every event applied again as a duplicate (slow: ~45 s per million events, bench row 5, with
 * the estimates waiting for it). With it, the next start creates the consumer at the kept floor.
 * A kept floor is never ahead of the state: it was acked, so every event up to it was applied to this Redis before
 * it was written, and a Redis that loses the state loses the floor with it. Left behind by a crash after the add, it
 * is only older than the consumer's position (resuming there re-applies more, idempotently), and the next
 * ensureConsumer or delete removes it. It names the stream by its creation time: a floor of a stream that was deleted
 * and made again (sequences start over) is ignored, never used to skip the new stream's first events.
 */

export interface EnsuredConsumer {
  /** The delivery sequence its next message will carry (acks.ts checks that none is lost). */
  next: number;
  /** The stream sequence it was created after from a kept floor (a re-creation interrupted by a crash), if so. */
  resumedAfter?: number;
  /** A kept floor was found but belongs to an earlier stream of the same name (ignored: created from the start). */
  staleFloor?: ConsumerFloor;
}

const startAfter = (cfg: ReturnType<typeof consumerConfig>, floor: number): ReturnType<typeof consumerConfig> =>
  floor > 0 ? { ...cfg, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: floor + 1 } : cfg;

/**
 * Creates the durable consumer, or updates the mutable limits of an existing one.
 *
 * An existing consumer is re-created at its ack floor (everything after the last ack is delivered again; applying
 * it again is idempotent) when `rewind` is asked (a delivery was lost), when it still has unacked deliveries (they
 * went to a process that is gone, and a cumulative ack past them would lose them), or when it was created with
 * another ack policy (an older Kezek's explicit-ack consumer: the ack policy cannot be updated in place).
 * nats-server 2.9 cannot move a consumer, so this is a delete and an add, with the floor kept in between (`floor`,
 * see "Kept floors" above): a missing consumer with a kept floor is created at that floor; without one, from the
 * start of the stream.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  o: ConsumerOptions,
  crossingId?: string,
  opts: { rewind?: boolean; floor?: ConsumerFloorKeeper } = {},
): Promise<EnsuredConsumer> {
  const s = subjects(o.prefix);
  const cfg = consumerConfig(o, crossingId);
  /** The events stream's identity for a kept floor (asked only when a floor is read or kept). */
  const streamCreated = async () => (await jsm.streams.info(s.eventsStream)).created;
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(s.eventsStream, cfg.durable_name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    const kept = await opts.floor?.read();
    const valid = kept !== undefined && kept.streamCreated === (await streamCreated());
    await jsm.consumers.add(s.eventsStream, valid ? startAfter(cfg, kept.streamSeq) : cfg);
    await opts.floor?.drop();
    if (kept === undefined) return { next: 1 };
    return valid ? { next: 1, resumedAfter: kept.streamSeq } : { next: 1, staleFloor: kept };
  }
  if (opts.rewind || info.num_ack_pending > 0 || info.config.ack_policy !== cfg.ack_policy) {
    const floor = info.ack_floor.stream_seq;
    if (opts.floor) await opts.floor.keep({ streamSeq: floor, streamCreated: await streamCreated() });
    await deleteIfExists(jsm, s.eventsStream, cfg.durable_name);
    await jsm.consumers.add(s.eventsStream, startAfter(cfg, floor));
    await opts.floor?.drop();
    return { next: 1 };
  }
  const { ack_wait, max_deliver, backoff, max_ack_pending } = cfg;
  const updated = await jsm.consumers.update(s.eventsStream, cfg.durable_name, { ack_wait, max_deliver, backoff, max_ack_pending });
  // a floor kept beside an existing consumer was left by a crash after its add (or before its delete): the
  // consumer's own position holds
  await opts.floor?.drop();
  return { next: updated.delivered.consumer_seq + 1 };
}

async function deleteIfExists(jsm: JetStreamManager, stream: string, durable: string): Promise<void> {
  try {
    await jsm.consumers.delete(stream, durable);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * Deletes the durable consumer (its position and pending acks) so that the next one starts from the start of the
 * stream (a rebuild); a missing consumer is fine. Its kept floor is dropped first: a crash after that leaves the
 * consumer as it was, never a missing consumer that would resume at the floor.
 */
export async function deleteConsumer(jsm: JetStreamManager, prefix: string, crossingId?: string, floor?: ConsumerFloorKeeper): Promise<void> {
  await floor?.drop();
  await deleteIfExists(jsm, subjects(prefix).eventsStream, durableName(prefix, crossingId));
}

/**
 * The estimator durables (the single one and every crossing's) that a live process is consuming: looked at
 * `samples` times `gapMs` apart, one counts when it had a pull request open at every look (a running estimator
 * keeps one open almost all the time; a stopped one's lapses within the fetch expiry, 2 s) or when its deliveries
 * moved on between the first look and the last. A CLI rebuild refuses to run beside them: it deletes and re-creates
 * the consumer they pull from, and the two would keep re-creating it (each sees the other's deliveries as lost).
 */
export async function consumersInUse(jsm: JetStreamManager, prefix: string, crossingIds: string[], opts: { samples?: number; gapMs?: number } = {}): Promise<string[]> {
  const names = [durableName(prefix), ...crossingIds.map((c) => durableName(prefix, c))];
  const stream = subjects(prefix).eventsStream;
  const look = () => Promise.all(names.map((n) => jsm.consumers.info(stream, n).catch((err: unknown) => (isNotFound(err) ? null : Promise.reject(err)))));
  const looks: (ConsumerInfo | null)[][] = [];
  const samples = Math.max(2, opts.samples ?? 3);
  for (let i = 0; i < samples; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, opts.gapMs ?? 1500));
    looks.push(await look());
  }
  return names.filter((_, k) => {
    const seen = looks.map((l) => l[k]);
    const first = seen[0];
    const last = seen[seen.length - 1];
    if (!first || !last) return false;
    return seen.every((info) => info !== null && info !== undefined && info.num_waiting > 0) || last.delivered.consumer_seq > first.delivered.consumer_seq;
  });
}
