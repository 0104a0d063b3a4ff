/**
 * FAULT 3: nats-server is stopped for a while and started again (same port, same JetStream store dir) during
 * ingest through both paths: the HTTP gateway (POST /v1/events; the client re-sends a batch answered 503, as the
 * API docs say) and the buffered producer (shared/producer/publisher.ts). The estimator consumes throughout.
 * Every event the gateway accepted (202) and every event given to the producer must be in the state exactly once:
 * the final state equals the reference built from those events, and the stream holds each eventId once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { FastifyInstance } from 'fastify';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { freePort, startNatsServer, type LocalServer } from '../../shared/local-servers.ts';
import { parseConfig } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { pino } from 'pino';
import { subjects, type KezekEvent } from '../../shared/events/index.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { createEstimator, type Estimator } from '../../services/estimator/estimator.ts';
import { buildApp } from '../../services/api/app.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { redisUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { appliedCount, catalogue, consumerBacklog, eventState, HOUR, KEY, queueStream, QUEUES, referenceStore, until } from './lib.ts';

const logger = createLogger({ service: 'fault-nats', level: 'silent', pretty: false });
// the gateway's own log tells whether it re-published through the outage
const gatewayLines: string[] = [];
const gatewayLogger = pino({ level: 'info' }, { write: (line: string) => void gatewayLines.push(line) });
const gatewayRetried = (): boolean => gatewayLines.some((l) => l.includes('published after retries'));
const PRODUCER_TOKEN = 'fault-producer-token-1';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('nats-server restarted during ingest', () => {
  let server: LocalServer;
  let nc: NatsConnection;
  let redis: Redis;
  let app: FastifyInstance | undefined;
  let estimator: Estimator | undefined;
  beforeAll(async () => {
    server = await startNatsServer({ dataDir: tempDir('kezek-fault-nats'), port: await freePort() });
    nc = await connectNats({ url: server.url, name: 'fault-nats' });
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await estimator?.stop();
    await app?.close();
    await nc?.close().catch(() => undefined);
    redis?.disconnect();
    await server?.stop();
  });

  it('every event accepted by the gateway or given to the producer is applied exactly once', { timeout: 180_000 }, async () => {
    const prefix = uniquePrefix();
    await ensureStreams(nc, { prefix });
    const endMs = Date.now() - HOUR;
    const viaGateway = queueStream(QUEUES[0]!, 31, { endMs, durationMs: 4 * HOUR, ratePerHour: 120 });
    const viaProducer = queueStream(QUEUES[1]!, 32, { endMs, durationMs: 4 * HOUR, ratePerHour: 120 });

    estimator = createEstimator({ nc, redis, catalogue, prefix, logger, pseudonymKey: KEY, consumer: { ackWaitMs: 2000 } });
    await estimator.start();
    const config = parseConfig({ KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'silent', API_TOKENS: `producer:${PRODUCER_TOKEN}`, RATE_LIMIT_PER_MINUTE: '0', WRITE_RATE_LIMIT_PER_MINUTE: '0' });
    const reader = createApiReader({ redis, prefix, catalogue, staleAfterSeconds: 900 });
    app = await buildApp({ config, catalogue, nc, redis, reader, logger: gatewayLogger, deliverWebhooks: false });
    const producer = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger, ackTimeoutMs: 700, retryDelayMs: 100 });

    // gateway client: batches of 40; the gateway re-publishes through the 2 s outage itself (INGEST_RETRY_SECONDS),
    // and a client that still gets a 503 re-sends the batch after a pause (what the API docs tell producers)
    const statuses: Record<number, number> = {};
    const accepted = new Set<string>();
    const gateway = (async () => {
      for (let i = 0; i < viaGateway.length; i += 40) {
        const batch = viaGateway.slice(i, i + 40);
        for (;;) {
          const r = await app!.inject({ method: 'POST', url: '/v1/events', headers: { authorization: `Bearer ${PRODUCER_TOKEN}`, 'content-type': 'application/json' }, payload: batch });
          statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
          if (r.statusCode === 202) {
            for (const e of batch) accepted.add(e.eventId);
            break;
          }
          expect(r.statusCode, r.body).toBe(503);
          expect(r.headers['retry-after']).toBeDefined();
          expect(r.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
          await sleep(200);
        }
        await sleep(15);
      }
    })();
    const producing = (async () => {
      for (let i = 0; i < viaProducer.length; i += 25) {
        await producer.publishMany(viaProducer.slice(i, i + 25));
        await sleep(15);
      }
    })();

    // --- the fault: broker down for 2 s in the middle of ingest ---
    await until('ingest under way', async () => accepted.size > viaGateway.length / 4, 60_000, 20);
    await server.stop();
    await sleep(2000);
    await server.restart();

    await Promise.all([gateway, producing]);
    await producer.flush(60_000);
    const pstats = producer.stats();
    await producer.close();
    expect(accepted.size).toBe(viaGateway.length);

    const all: KezekEvent[] = [...viaGateway, ...viaProducer];
    await until('everything applied', async () => (await appliedCount(redis, prefix)) === all.length && (await consumerBacklog(nc, prefix)) === 0, 120_000, 200);
    const s = subjects(prefix);
    // the stream holds every event once: the producer's one per message, the gateway's batches as one message each
    const info = await (await jetstreamManager(nc)).streams.info(s.eventsStream);
    const inStream: string[] = [];
    const ordered = await jetstream(nc).consumers.get(s.eventsStream);
    for (let seq = 0; seq < info.state.last_seq; ) {
      const m = await ordered.next({ expires: 2000 });
      if (!m) break;
      seq = m.seq;
      const body = m.json<{ eventId: string } | { eventId: string }[]>();
      for (const e of Array.isArray(body) ? body : [body]) inStream.push(e.eventId);
    }
    expect(inStream.length).toBe(all.length);
    expect(new Set(inStream)).toEqual(new Set(all.map((e) => e.eventId)));
    expect(info.state.messages).toBe(viaProducer.length + Math.ceil(viaGateway.length / 40));

    const refPrefix = uniquePrefix();
    await referenceStore(redis, refPrefix, all);
    expect(await eventState(redis, prefix)).toEqual(await eventState(redis, refPrefix));
    expect(statuses[503] ?? 0, 'the gateway rode out a 2 s outage (retry window 10 s) instead of answering 503').toBe(0);
    expect(gatewayRetried(), 'the gateway had to re-publish during the outage').toBe(true);
    expect(pstats.bufferedTotal, 'the producer buffered while the broker was down').toBeGreaterThan(0);
    console.log(
      `[fault:nats-restart] gatewayEvents=${viaGateway.length} gatewayResponses=${JSON.stringify(statuses)} producerEvents=${viaProducer.length} ` +
        `producerStats=${JSON.stringify({ stored: pstats.stored, duplicates: pstats.duplicates, bufferedTotal: pstats.bufferedTotal, resent: pstats.resent, failedAttempts: pstats.failedAttempts })} ` +
        `streamMessages=${info.state.messages} estimator=${JSON.stringify(estimator.stats())} equal=true`,
    );
  });
});
