/**
 * What every benchmark row gets: the throwaway nats-server and redis-server of this run, a NATS connection and
 * a Redis client of the runner, a fresh KEZEK_PREFIX per measurement (so rows never see each other's streams or
 * keys), the env for child services, progress output on stderr, and clean-up of what a row created.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import { connectNats } from '../../shared/nats.ts';
import { startNatsServer, startRedisServer, type LocalServer } from '../../shared/local-servers.ts';

export const BENCH_PSEUDONYM_KEY = 'kezek-bench-pseudonym-key-0123456789';
export const BENCH_PRODUCER_TOKEN = 'bench-producer-token-0123456789';

export interface BenchOptions {
  quick: boolean;
  /** Events of the ingest row (each of a, b and the baseline). */
  ingestEvents: number;
  /** Offered rates of the freshness row, and seconds per rate. */
  freshnessRates: number[];
  freshnessSeconds: number;
  /** autocannon duration per polling row, seconds. */
  pollSeconds: number;
  pollConnections: number;
  /** Interleaved bare/ours rounds per polling measurement (pollSeconds is split between them). */
  pollRounds: number;
  /** Interleaved baseline/(b)/(a) rounds of the ingest row (each round runs all three in full). */
  ingestRounds: number;
  /** Queue counts and events per count of the cost-growth row. */
  growthQueues: number[];
  growthEvents: number;
  /** Memory checkpoints (events processed) of the cost-growth row. */
  memoryCheckpoints: number[];
  /** Events rebuilt by the replay row (when the growth row did not leave a stream to rebuild). */
  replayEvents: number;
  /** Wall-clock budget of the memory-over-events part of the growth row, seconds; it stops at the budget. */
  memoryBudgetSeconds: number;
}

export function defaultOptions(quick: boolean): BenchOptions {
  return quick
    ? { quick, ingestEvents: 5_000, ingestRounds: 1, freshnessRates: [100, 1000], freshnessSeconds: 5, pollSeconds: 4, pollConnections: 50, pollRounds: 2, growthQueues: [10, 100, 1000], growthEvents: 2_000, memoryCheckpoints: [5_000, 15_000], replayEvents: 10_000, memoryBudgetSeconds: 60 }
    : { quick, ingestEvents: 15_000, ingestRounds: 5, freshnessRates: [100, 500, 1000], freshnessSeconds: 10, pollSeconds: 20, pollConnections: 50, pollRounds: 5, growthQueues: [10, 100, 1000], growthEvents: 4_000, memoryCheckpoints: [100_000, 1_000_000, 1_500_000, 2_000_000], replayEvents: 50_000, memoryBudgetSeconds: 600 };
}

export interface Harness {
  opts: BenchOptions;
  nats: LocalServer;
  redisServer: LocalServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  redis: Redis;
  catalogue: Catalogue;
  /** A fresh KEZEK_PREFIX (lowercase, valid for config, subjects and keys). */
  newPrefix(label: string): string;
  /** Env for a child service on this run's servers. */
  env(prefix: string, extra?: Record<string, string>): Record<string, string>;
  progress(msg: string): void;
  /** Deletes the streams of a prefix and its Redis keys, so later rows start from an empty store. */
  cleanup(prefix: string): Promise<void>;
  /** Deletes only the Redis keys of a prefix (the replay row rebuilds them from the stream). */
  deleteKeys(prefix: string): Promise<void>;
  /** A stream the growth row filled, for the replay row to rebuild: prefix and number of events. */
  replaySource?: { prefix: string; events: number };
  close(): Promise<void>;
}

export async function createHarness(opts: BenchOptions): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'kezek-bench-'));
  // detached (own process groups): a terminal Ctrl-C reaches the bench only, which finishes its row and stops them
  const nats = await startNatsServer({ dataDir: join(dir, 'nats'), detached: true });
  const redisServer = await startRedisServer({ dataDir: join(dir, 'redis'), detached: true });
  const nc = await connectNats({ url: nats.url, name: 'bench-runner' });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 2 });
  const jsm = await jetstreamManager(nc);
  const started = Date.now();
  const runTag = randomBytes(2).toString('hex');
  const deleteKeys = async (prefix: string) => {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  };
  let n = 0;
  return {
    opts,
    nats,
    redisServer,
    nc,
    js: jetstream(nc),
    jsm,
    redis,
    catalogue: loadCatalogue(),
    newPrefix: (label) => `b${runTag}${label.replace(/[^a-z0-9]/g, '').slice(0, 12)}${n++}`,
    env: (prefix, extra = {}) => ({
      NATS_URL: nats.url,
      REDIS_URL: redisServer.url,
      KEZEK_PREFIX: prefix,
      PSEUDONYM_KEY: BENCH_PSEUDONYM_KEY,
      API_TOKENS: `producer:${BENCH_PRODUCER_TOKEN}`,
      RATE_LIMIT_PER_MINUTE: '0',
      WRITE_RATE_LIMIT_PER_MINUTE: '0',
      LOG_LEVEL: 'warn',
      PORT: '0',
      ...extra,
    }),
    progress: (msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`),
    async cleanup(prefix) {
      const P = prefix.toUpperCase();
      for (const name of [`${P}_EVENTS`, `${P}_ESTIMATES`, `${P}_DLQ`, `${P}_BASE`]) await jsm.streams.delete(name).catch(() => undefined);
      await deleteKeys(prefix);
    },
    deleteKeys,
    async close() {
      await nc.drain().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await nats.stop();
      await redisServer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Redis INFO memory `used_memory` in bytes. */
export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const m = /^used_memory:(\d+)/m.exec(info);
  return m ? Number(m[1]) : NaN;
}

export async function redisVersion(redis: Redis): Promise<string> {
  const info = await redis.info('server');
  return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
}
