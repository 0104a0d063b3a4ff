/**
 * Benchmark child: the real estimator (services/estimator/estimator.ts) wired like services/estimator/main.ts,
 * with an optional `--catalogue <file>` (synthetic catalogues of the cost-growth row). Config from the env.
 */
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { connectNats } from '../../shared/nats.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { catalogueArg, serveChild } from './ipc.ts';

const config = loadConfigOrExit();
const log = createLogger({ service: 'bench-estimator', level: config.LOG_LEVEL, pretty: false });
const path = catalogueArg();
const catalogue = path ? loadCatalogue(path) : loadCatalogue();
const nc = await connectNats({ url: config.NATS_URL, name: `bench-estimator-${config.KEZEK_PREFIX}` });
const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: 2 });
const estimator = createEstimator({
  nc,
  redis,
  catalogue,
  prefix: config.KEZEK_PREFIX,
  logger: log,
  pseudonymKey: config.PSEUDONYM_KEY!,
  staleAfterMs: config.STALE_AFTER_SECONDS * 1000,
  maxSilenceMs: config.STALE_QUIET_MAX_SECONDS * 1000,
  progressEveryMs: 3_600_000,
  partitioning: config.ESTIMATOR_PARTITIONING,
  leaseMs: config.ESTIMATOR_LEASE_MS,
});

const child = serveChild({
  counters: () => {
    const s = estimator.stats();
    return { processed: s.applied + s.duplicates + s.deadLettered, counters: { ...s } };
  },
  shutdown: async () => {
    await estimator.stop();
    await nc.drain().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  },
});

// `--rebuild-only`: time a full rebuild from the stream (the replay row), report it, then wait for `stop`.
if (process.argv.includes('--rebuild-only')) {
  const report = await estimator.rebuild('benchmark replay');
  child.ready({ rebuild: report });
} else {
  await estimator.start();
  child.ready({});
}
