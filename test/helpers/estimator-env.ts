/**
 * The fixture of the estimator's integration tests on the shared servers: `setup()` gives a test its own prefix
 * (streams ensured), a NATS connection and a Redis client; they and whatever the test pushes on `cleanups` are
 * closed after it, newest first.
 */
import { afterEach } from 'vitest';
import { Redis } from 'ioredis';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { subjects } from '../../shared/events/index.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { natsUrl, redisUrl, uniquePrefix } from './env.ts';

export const TEST_PSEUDONYM_KEY = 'test-pseudonym-key-0123456789';

export function estimatorTestEnv() {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  async function setup() {
    const prefix = uniquePrefix();
    const nc = await connect({ servers: natsUrl() });
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    cleanups.push(() => redis.quit(), () => nc.drain());
    await ensureStreams(nc, { prefix });
    return { prefix, nc, redis, js: jetstream(nc), jsm: await jetstreamManager(nc), s: subjects(prefix) };
  }
  return { cleanups, setup };
}
