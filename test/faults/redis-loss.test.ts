/**
 * FAULT 2: redis-server is restarted with its data gone (a private server without persistence, restarted). The
 * estimator (child process) notices the missing initialised marker and rebuilds every queue from the events stream;
 * meanwhile the API's /readyz answers 503 `degraded` with the store's reason; afterwards /readyz is 200 and the
 * state equals the reference computed from the event log. The documented `rebuild` command (main.ts rebuild) gives
 * the same state on demand, on an intact store (idempotent) and on an emptied one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyInstance } from 'fastify';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { startRedisServer, type LocalServer } from '../../shared/local-servers.ts';
import { parseConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { buildApp } from '../../services/api/app.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { natsUrl, redisUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import type { StartProcess } from '../helpers/start-process.ts';
import { appliedCount, catalogue, consumerBacklog, eventState, heavyStream, KEY, publishEvents, referenceStore, runRebuildCommand, spawnEstimator, until } from './lib.ts';

const N = Number(process.env.FAULT_REDIS_EVENTS ?? 4000);

describe('Redis restarted empty', () => {
  let server: LocalServer;
  let nc: NatsConnection;
  let redis: Redis;
  let shared: Redis;
  let app: FastifyInstance | undefined;
  let estimator: StartProcess | undefined;
  beforeAll(async () => {
    server = await startRedisServer({ dataDir: tempDir('kezek-fault-redis') });
    nc = await connectNats({ url: natsUrl(), name: 'fault-redis' });
    redis = new Redis(server.url, { maxRetriesPerRequest: 2 });
    redis.on('error', () => undefined);
    shared = new Redis(redisUrl());
  });
  afterAll(async () => {
    if (estimator && estimator.proc.exitCode === null) estimator.proc.kill('SIGKILL');
    await app?.close();
    await nc?.drain().catch(() => undefined);
    redis?.disconnect();
    shared?.disconnect();
    await server?.stop();
  });

  it('the estimator rebuilds from the stream, /readyz is degraded meanwhile, and the rebuilt state equals the reference', { timeout: 180_000 }, async () => {
    const prefix = uniquePrefix();
    const events = heavyStream(N, 21);
    await ensureStreams(nc, { prefix });
    await publishEvents(nc, prefix, events);
    const env = { natsUrl: natsUrl(), redisUrl: server.url, prefix };
    estimator = spawnEstimator(env);
    await until('initial build', async () => (await appliedCount(redis, prefix)) === events.length && (await consumerBacklog(nc, prefix)) === 0, 120_000, 200);
    const refPrefix = uniquePrefix();
    await referenceStore(shared, refPrefix, events);
    const reference = await eventState(shared, refPrefix);
    expect(await eventState(redis, prefix)).toEqual(reference);

    const config = parseConfig({ KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', WRITE_RATE_LIMIT_PER_MINUTE: '0' });
    const reader = createApiReader({ redis, prefix, catalogue, staleAfterSeconds: config.STALE_AFTER_SECONDS });
    app = await buildApp({ config, catalogue, nc, redis, reader, logger: createLogger({ service: 'fault-api', level: 'silent', pretty: false }), deliverWebhooks: false });
    const ready = async () => {
      const r = await app!.inject({ method: 'GET', url: '/readyz' });
      return { status: r.statusCode, body: r.json() as { status: string; checks: Record<string, { ok: boolean; reason?: string }> } };
    };
    await until('store ready in /readyz', async () => (await ready()).body.checks.store?.ok === true, 15_000);

    // --- the fault: data gone ---
    const rebuildsBefore = estimator.lines.filter((l) => l.msg === 'rebuild finished').length;
    await server.restart();
    const degraded = await until('/readyz degraded', async () => {
      const r = await ready();
      return r.status === 503 && r.body.checks.store?.ok === false ? r : undefined;
    }, 30_000, 25);
    expect(degraded.body.status).toBe('degraded');
    expect(degraded.body.checks.store!.reason).toMatch(/not initialised|ECONNREFUSED|connect|closed|timed out/i);

    await until('rebuilt', async () => estimator!.lines.filter((l) => l.msg === 'rebuild finished').length > rebuildsBefore, 120_000, 200);
    const rebuild = estimator.lines.filter((l) => l.msg === 'rebuild finished').at(-1)!;
    expect(String(rebuild.reason)).toMatch(/marker missing/);
    await until('/readyz store ok again', async () => (await ready()).body.checks.store?.ok === true, 15_000);
    expect(await appliedCount(redis, prefix)).toBe(events.length);
    expect(await eventState(redis, prefix)).toEqual(reference);

    estimator.proc.kill('SIGTERM');
    expect((await estimator.exited).code).toBe(0);

    // --- the documented rebuild command: on the intact store (idempotent), then on an emptied one ---
    const intact = await runRebuildCommand(env);
    expect(intact.code, intact.output.slice(-2000)).toBe(0);
    expect(await eventState(redis, prefix)).toEqual(reference);
    await server.restart();
    await until('redis back', async () => (await redis.ping()) === 'PONG', 10_000);
    expect(await redis.dbsize()).toBe(0);
    expect((await ready()).status).toBe(503);
    const fromEmpty = await runRebuildCommand(env);
    expect(fromEmpty.code, fromEmpty.output.slice(-2000)).toBe(0);
    expect(await eventState(redis, prefix)).toEqual(reference);
    expect(await redis.exists(`${prefix}:v1:initialised`)).toBe(1);
    await until('/readyz store ok after the rebuild command', async () => (await ready()).body.checks.store?.ok === true, 15_000);
    console.log(`[fault:redis-loss] events=${events.length} restarts=2 degradedReason="${degraded.body.checks.store!.reason}" rebuildEvents=${String(rebuild.events)} rebuildCommand=2x rebuildFetchRetries=${(intact.output + fromEmpty.output).split('rebuild fetch failed').length - 1} equal=true`);
  });
});
