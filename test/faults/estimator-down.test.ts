/**
 * FAULT 5: the estimator goes down while producers keep posting and clients keep polling. The API keeps answering
 * (never a 5xx) with the last known estimate, marked stale once its newest event is older than STALE_AFTER_SECONDS
 * (6 s here, and the quiet-queue limit STALE_QUIET_MAX_SECONDS too, so the threshold is fixed); /readyz is 503 and says why (the estimator's consumer has events pending and nobody pulls; the newest
 * estimate is too old). When an estimator comes back, readiness and fresh estimates return.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { parseConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { createEstimator, type Estimator } from '../../services/estimator/estimator.ts';
import { buildApp } from '../../services/api/app.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';
import { catalogue, KEY, until } from './lib.ts';

const logger = createLogger({ service: 'fault-down', level: 'silent', pretty: false });
const TOKEN = 'fault-producer-token-2';
const STALE_S = 6;
const WAITS = '/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck';

interface QueueView { waitSeconds: number | null; queueLength: number | null; stale: boolean; revision: number | null }

describe('API while the estimator is down', () => {
  let nc: NatsConnection;
  let redis: Redis;
  let app: FastifyInstance;
  const estimators: Estimator[] = [];
  const prefix = uniquePrefix();
  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'fault-down' });
    redis = new Redis(redisUrl());
    await ensureStreams(nc, { prefix });
    const config = parseConfig({ KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'silent', API_TOKENS: `producer:${TOKEN}`, STALE_AFTER_SECONDS: String(STALE_S), RATE_LIMIT_PER_MINUTE: '0', WRITE_RATE_LIMIT_PER_MINUTE: '0' });
    const reader = createApiReader({ redis, prefix, catalogue, staleAfterSeconds: STALE_S });
    app = await buildApp({ config, catalogue, nc, redis, reader, logger, deliverWebhooks: false });
  });
  afterAll(async () => {
    for (const e of estimators) await e.stop();
    await app?.close();
    await nc?.drain().catch(() => undefined);
    redis?.disconnect();
  });

  const startEstimator = async () => {
    const e = createEstimator({ nc, redis, catalogue, prefix, logger, pseudonymKey: KEY, staleAfterMs: STALE_S * 1000, maxSilenceMs: STALE_S * 1000, consumer: { ackWaitMs: 2000 } });
    estimators.push(e);
    await e.start();
    return e;
  };
  let n = 0;
  const post = (events: Record<string, unknown>[]) =>
    app.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, payload: events });
  const live = (type: string, extra: Record<string, unknown> = {}, agoMs = 0) => ({
    eventId: `down-${++n}`, type, crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date(Date.now() - agoMs).toISOString(), ...extra,
  });
  const truckView = async (): Promise<QueueView> => {
    const r = await app.inject(WAITS);
    expect(r.statusCode).toBe(200);
    return (r.json() as { queues: QueueView[] }).queues[0]!;
  };
  const ready = async () => {
    const r = await app.inject('/readyz');
    return { status: r.statusCode, body: r.json() as { status: string; checks: Record<string, { ok: boolean; reason?: string; pending?: number }> } };
  };

  it('serves the last known estimates marked stale, /readyz says why, and recovers when the estimator returns', { timeout: 90_000 }, async () => {
    const first = await startEstimator();
    expect((await post([live('queue.observed', { queueLength: 14 }, 2000), ...Array.from({ length: 6 }, (_, i) => live('vehicle.arrived', { vehicleRef: `01KZ${100 + i}ABC` }, 1000 - i * 100))])).statusCode).toBe(202);
    // a fresh event each round, until an estimate arrives within the staleness limit (the first one pays start-up)
    await until('a fresh estimate', async () => {
      const v = await truckView();
      if (v.revision !== null && !v.stale) return v;
      expect((await post([live('vehicle.arrived', { vehicleRef: `01KZ${n}ABC` })])).statusCode).toBe(202);
      return undefined;
    }, 30_000, 500);
    await until('/readyz ready', async () => (await ready()).status === 200, 30_000, 250);

    await first.stop();
    await new Promise((r) => setTimeout(r, 300)); // the last publication of the stopped estimator reaches the view
    const before = await truckView();
    // load: 4 polling clients and one producer for (STALE_S + 2) s
    const statuses: Record<string, number> = {};
    const bump = (k: string) => (statuses[k] = (statuses[k] ?? 0) + 1);
    const deadline = Date.now() + (STALE_S + 2) * 1000;
    const poller = async (url: string) => {
      while (Date.now() < deadline) {
        bump(`GET ${(await app.inject(url)).statusCode}`);
        await new Promise((r) => setImmediate(r)); // let timers (the producer) run between requests
      }
    };
    const producer = async () => {
      while (Date.now() < deadline) {
        bump(`POST ${(await post([live('vehicle.arrived', { vehicleRef: `01KZ${n}XYZ` })])).statusCode}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await Promise.all([poller(WAITS), poller(WAITS), poller('/v1/waits'), poller('/v1/crossings'), producer()]);
    expect(Object.keys(statuses).filter((k) => !/ (200|202)$/.test(k))).toEqual([]);

    const during = await truckView();
    expect(during).toMatchObject({ stale: true, revision: before.revision, queueLength: before.queueLength, waitSeconds: before.waitSeconds });
    const r = await ready();
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('degraded');
    expect(r.body.checks.consumer).toMatchObject({ ok: false, reason: expect.stringMatching(/estimator not consuming: [a-z0-9]+-estimator: \d+ messages pending, no pull for \d+s/) });
    expect(r.body.checks.consumer!.pending).toBeGreaterThan(0);
    expect(r.body.checks.estimator).toMatchObject({ ok: false, reason: expect.stringMatching(/newest estimate is \d+s old/) });
    expect(r.body.checks.store!.ok).toBe(true);

    await startEstimator();
    const after = await until('a fresh estimate again', async () => {
      const v = await truckView();
      if (!v.stale && v.revision! > before.revision!) return v;
      expect((await post([live('vehicle.arrived', { vehicleRef: `01KZ${n}ABC` })])).statusCode).toBe(202);
      return undefined;
    }, 30_000, 500);
    expect(after.queueLength).toBeGreaterThan(before.queueLength!); // the arrivals posted while it was down
    await until('/readyz ready again', async () => (await ready()).status === 200, 30_000, 250);
    const total = Object.values(statuses).reduce((a, b) => a + b, 0);
    console.log(`[fault:estimator-down] requestsWhileDown=${total} byStatus=${JSON.stringify(statuses)} readyzReason="${r.body.checks.consumer!.reason}" staleServed=true recovered=true`);
  });
});
