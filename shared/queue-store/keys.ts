/**
 * The ONE builder of Redis key names. Layout (v1):
 *
 *   <prefix>:v1:initialised                         STRING  marker written after (re)build (absent after data loss)
 *   <prefix>:v1:queues                              SET     queue ids "<crossing>|<direction>|<class>" with an estimate
 *   <prefix>:v1:floor                               STRING  ack floor of the single estimator consumer while it is
 *                                                           re-created (services/estimator/consumer.ts)
 *   <prefix>:v1:{<crossing>}:ids                    ZSET    applied eventIds of the crossing, score = event ms
 *   <prefix>:v1:{<crossing>}:cmeta                  HASH    crossing newest event time (maxT)
 *   <prefix>:v1:{<crossing>}:st:<dir|*>:<class|*>   ZSET    crossing.status records of one scope, score = event ms
 *   <prefix>:v1:{<crossing>}:stfold                 HASH    per scope: maxT, trimmed-below, newest trimmed record
 *   <prefix>:v1:{<crossing>}:floor                  STRING  the same for the crossing's partition consumer
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:meta     HASH    queue maxT, trimmed-below and the fold of trimmed records
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:r:<K>    ZSET    records of kind K (A S C X L O), score = event ms
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:vix      ZSET    lex index "<ref>|<A|S>|<ms padded>" (all scores 0)
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:hist     HASH    history buckets "<bucketMs>:<a|s|ws|wn|e>"
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:hidx     ZSET    bucket starts that have counts
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:hest     ZSET    bucket starts that have a published estimate
 *   <prefix>:v1:{<crossing>}:<dir>:<class>:est      HASH    latest published estimate: json, asOfMs, revision
 *
 * Every key one Lua call touches carries the crossing's hash tag `{<crossing>}`, so the layout works on Redis Cluster.
 * The global keys are only read/written with plain single-key commands. A consumer's floor key lives in the slot
 * of the state it vouches for (the crossing's; the single consumer's with the initialised marker's).
 */
import type { QueueRef } from './api.ts';

export const LAYOUT_VERSION = 'v1';
export const RECORD_KINDS = ['A', 'S', 'C', 'X', 'L', 'O'] as const;
export type StoredKind = (typeof RECORD_KINDS)[number];
/** `*` in a status scope: the status applies to every direction / class. */
export const ANY = '*';

export interface QueueKeys {
  /** Every key of the queue itself (not the crossing-level ones), for dumps and deletion. */
  readonly base: string;
  readonly meta: string;
  readonly records: Record<StoredKind, string>;
  readonly vix: string;
  readonly hist: string;
  readonly hidx: string;
  readonly hest: string;
  readonly est: string;
}

export interface CrossingKeys {
  readonly tag: string;
  readonly ids: string;
  readonly cmeta: string;
  readonly stfold: string;
  status(direction: string | undefined, vehicleClass: string | undefined): string;
}

export function statusScope(direction: string | undefined, vehicleClass: string | undefined): string {
  return `${direction ?? ANY}:${vehicleClass ?? ANY}`;
}

export function createKeys(prefix: string) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) throw new RangeError(`invalid key prefix "${prefix}"`);
  const root = `${prefix}:${LAYOUT_VERSION}`;
  const crossing = (crossingId: string): CrossingKeys => {
    const tag = `${root}:{${crossingId}}`;
    return {
      tag,
      ids: `${tag}:ids`,
      cmeta: `${tag}:cmeta`,
      stfold: `${tag}:stfold`,
      status: (direction, vehicleClass) => `${tag}:st:${statusScope(direction, vehicleClass)}`,
    };
  };
  const queue = (q: QueueRef): QueueKeys => {
    const base = `${crossing(q.crossingId).tag}:${q.direction}:${q.vehicleClass}`;
    return {
      base,
      meta: `${base}:meta`,
      records: { A: `${base}:r:A`, S: `${base}:r:S`, C: `${base}:r:C`, X: `${base}:r:X`, L: `${base}:r:L`, O: `${base}:r:O` },
      vix: `${base}:vix`,
      hist: `${base}:hist`,
      hidx: `${base}:hidx`,
      hest: `${base}:hest`,
      est: `${base}:est`,
    };
  };
  return {
    root,
    initialised: `${root}:initialised`,
    queueIndex: `${root}:queues`,
    /** The kept ack floor of the single consumer (no crossing) or of a crossing's partition consumer. */
    consumerFloor: (crossingId?: string): string => (crossingId === undefined ? `${root}:floor` : `${crossing(crossingId).tag}:floor`),
    crossing,
    queue,
    /** The 11 per-queue KEYS of apply-events, in the script's order (see its header): meta, r:A..r:O, vix, hist, hidx, hest. */
    applyEventsKeys: (q: QueueRef): string[] => {
      const k = queue(q);
      return [k.meta, ...RECORD_KINDS.map((kind) => k.records[kind]), k.vix, k.hist, k.hidx, k.hest];
    },
    /** The status scopes that apply to a queue, most specific first. */
    statusKeysFor: (q: QueueRef): string[] => {
      const c = crossing(q.crossingId);
      return [c.status(q.direction, q.vehicleClass), c.status(q.direction, undefined), c.status(undefined, q.vehicleClass), c.status(undefined, undefined)];
    },
    statusScopesFor: (q: QueueRef): string[] => [
      statusScope(q.direction, q.vehicleClass),
      statusScope(q.direction, undefined),
      statusScope(undefined, q.vehicleClass),
      statusScope(undefined, undefined),
    ],
  };
}
export type Keys = ReturnType<typeof createKeys>;
