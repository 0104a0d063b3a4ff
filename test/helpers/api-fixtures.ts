/**
 * TEST FIXTURES for the API tests (not production code): a tiny QueueReader over Redis keys the test writes
 * itself (standing in for shared/queue-store until the estimator's store lands), a helper that "plays the
 * estimator" by storing an estimate and publishing it on the estimates stream, and an app builder wired to
 * the shared test servers under a unique prefix.
 */
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import { parseConfig, type Config } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { QueueEstimateSchema, queueKey, type QueueEstimate } from '../../shared/estimates.ts';
import { subjects } from '../../shared/events/subjects.ts';
import type { HistoryPoint, QueueReader, QueueRef } from '../../shared/queue-store/api.ts';
import { buildApp } from '../../services/api/app.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { validateEvent } from '../../shared/events/index.ts';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import type { AppDeps } from '../../services/api/context.ts';
import { natsUrl, redisUrl, uniquePrefix } from './env.ts';

const k = (prefix: string) => ({
  latest: `${prefix}:testfixture:latest`,
  asof: (q: QueueRef) => `${prefix}:testfixture:asof:${queueKey(q)}`,
  history: (q: QueueRef) => `${prefix}:testfixture:hist:${queueKey(q)}`,
  init: `${prefix}:testfixture:init`,
});

/** A QueueReader over fixture keys: latest estimate per queue, every estimate by asOf, history points. */
export function createFixtureReader(redis: Redis, prefix: string): QueueReader {
  const keys = k(prefix);
  return {
    async readAllEstimates() {
      const all = await redis.hvals(keys.latest);
      return all.map((j) => QueueEstimateSchema.parse(JSON.parse(j)));
    },
    async estimateAsOf(q, asOfMs) {
      const [j] = await redis.zrevrangebyscore(keys.asof(q), asOfMs, '-inf', 'LIMIT', 0, 1);
      if (j) return { ...QueueEstimateSchema.parse(JSON.parse(j)), asOf: new Date(asOfMs).toISOString() };
      return makeEstimate({ ...q, asOf: new Date(asOfMs).toISOString(), method: 'prior', lastEventAt: null, revision: 0 });
    },
    async readHistory(q, fromMs, toMs, stepMs) {
      const raw = await redis.zrangebyscore(k(prefix).history(q), fromMs, toMs);
      const points = raw.map((j) => JSON.parse(j) as HistoryPoint);
      // downsample: keep the last point of each step bucket
      const byBucket = new Map<number, HistoryPoint>();
      for (const p of points) byBucket.set(Math.floor(p.t / stepMs) * stepMs, { ...p, t: Math.floor(p.t / stepMs) * stepMs });
      return [...byBucket.values()];
    },
    async isInitialised() {
      return (await redis.exists(keys.init)) === 1;
    },
  };
}

export function makeEstimate(p: Partial<QueueEstimate> & { crossingId: string; direction: string; vehicleClass: QueueEstimate['vehicleClass'] }): QueueEstimate {
  const now = new Date().toISOString();
  return QueueEstimateSchema.parse({
    status: 'open', statusUntil: null, statusReason: null, lanesOpen: 4, queueLength: 10, waitSeconds: 1200, waitP10Seconds: 900,
    waitP90Seconds: 1800, lastEventAt: now, asOf: now, updatedAt: now, method: 'queue-model', stale: false, revision: 1, ...p,
  });
}

export interface Harness {
  prefix: string;
  config: Config;
  catalogue: Catalogue;
  nc: NatsConnection;
  redis: Redis;
  reader: QueueReader;
  /** Plays the estimator: stores the estimate (latest + as-of index) and publishes it; returns the stream seq. */
  publishEstimate(est: QueueEstimate): Promise<number>;
  addHistory(q: QueueRef, point: HistoryPoint): Promise<void>;
  markInitialised(): Promise<void>;
  /** The store as while the estimator rebuilds it: /readyz degraded, asOf and history 503. */
  clearInitialised(): Promise<void>;
  /** Number of messages in the events stream. */
  eventsInStream(): Promise<number>;
  build(extra?: Partial<AppDeps>, env?: Record<string, string>): ReturnType<typeof buildApp>;
  close(): Promise<void>;
}

export const TOKENS = { producer: 'producer-token-1', official: 'official-token-1', reader: 'reader-token-1', admin: 'admin-token-123' } as const;
export const bearer = (role: keyof typeof TOKENS) => ({ authorization: `Bearer ${TOKENS[role]}` });

export async function createHarness(env: Record<string, string> = {}): Promise<Harness> {
  const prefix = uniquePrefix();
  const baseEnv = {
    KEZEK_PREFIX: prefix,
    API_TOKENS: Object.entries(TOKENS).map(([r, t]) => `${r}:${t}`).join(','),
    PSEUDONYM_KEY: 'test-pseudonym-key-0123456789',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_PER_MINUTE: '0',
    WRITE_RATE_LIMIT_PER_MINUTE: '0',
  };
  const config = parseConfig({ ...baseEnv, ...env });
  const catalogue = loadCatalogue();
  const nc = await connectNats({ url: natsUrl(), name: `test-${prefix}` });
  const jsm = await ensureStreams(nc, { prefix });
  const redis = new Redis(redisUrl());
  const reader = createFixtureReader(redis, prefix);
  const keys = k(prefix);
  const js = jetstream(nc);
  const s = subjects(prefix);
  const apps: { close(): Promise<unknown> }[] = [];
  const logger = createLogger({ service: 'api-test', level: 'silent', pretty: false });
  // the store as the estimator leaves it once rebuilt (tests of the rebuild state call clearInitialised)
  await redis.set(keys.init, '1');
  return {
    prefix, config, catalogue, nc, redis, reader,
    async publishEstimate(est) {
      await redis.hset(keys.latest, queueKey(est), JSON.stringify(est));
      await redis.zadd(keys.asof(est), Date.parse(est.asOf), JSON.stringify(est));
      const ack = await js.publish(s.estimatesFor(est.crossingId, est.direction, est.vehicleClass), JSON.stringify(est));
      return ack.seq;
    },
    async addHistory(q, point) {
      await redis.zadd(keys.history(q), point.t, JSON.stringify(point));
    },
    async markInitialised() {
      await redis.set(keys.init, '1');
    },
    async clearInitialised() {
      await redis.del(keys.init);
    },
    async eventsInStream() {
      return (await jsm.streams.info(s.eventsStream)).state.messages;
    },
    async build(extra = {}, moreEnv = {}) {
      const cfg = Object.keys(moreEnv).length ? parseConfig({ ...baseEnv, ...env, ...moreEnv }) : config;
      const app = await buildApp({ config: cfg, catalogue, nc, redis, reader, logger, ...extra });
      apps.push(app);
      return app;
    },
    async close() {
      for (const a of apps) await a.close();
      await nc.drain().catch(() => undefined);
      redis.disconnect();
    },
  };
}

/**
 * The estimator's real queue store under the harness's prefix, holding korday KZ-KG truck's recent past as ingest
 * would store it (each event validated first): 2 lanes open at `t0`, a count of 20 a minute later, then 10 arrivals
 * a minute apart.
 */
export async function seedRealStore(h: Harness, t0: number): Promise<QueueStore> {
  const MIN = 60_000;
  const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const };
  const store = createApiReader({ redis: h.redis, prefix: h.prefix, catalogue: h.catalogue, staleAfterSeconds: h.config.STALE_AFTER_SECONDS });
  const events = [
    { eventId: 'l1', type: 'lanes.changed', ...q, occurredAt: new Date(t0).toISOString(), lanesOpen: 2 },
    { eventId: 'o1', type: 'queue.observed', ...q, occurredAt: new Date(t0 + MIN).toISOString(), queueLength: 20 },
    ...Array.from({ length: 10 }, (_, i) => ({ eventId: `a${i}`, type: 'vehicle.arrived', ...q, occurredAt: new Date(t0 + (2 + i) * MIN).toISOString() })),
  ];
  for (const ev of events) {
    const res = validateEvent(ev, { catalogue: h.catalogue });
    if (!res.ok) throw new Error(JSON.stringify(res.issues));
    await store.applyEvent(res.event);
  }
  return store;
}
