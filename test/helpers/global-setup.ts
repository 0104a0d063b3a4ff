/**
 * Starts one throwaway nats-server (JetStream) and one redis-server for the whole test run, unless
 * NATS_URL / REDIS_URL are given. Tests isolate themselves with unique prefixes (see test/helpers/env.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startNatsServer, startRedisServer, type LocalServer } from '../../shared/local-servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'kezek-test-'));
  const started: LocalServer[] = [];
  let natsUrl = process.env.NATS_URL;
  let redisUrl = process.env.REDIS_URL;
  if (!natsUrl) {
    const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
    started.push(nats);
    natsUrl = nats.url;
  }
  if (!redisUrl) {
    const redis = await startRedisServer({ dataDir: join(dir, 'redis') });
    started.push(redis);
    redisUrl = redis.url;
  }
  project.provide('natsUrl', natsUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    for (const s of started) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
