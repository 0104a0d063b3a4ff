/**
 * Estimator composition root: config -> logger -> catalogue -> NATS + Redis -> estimator.start() -> ordered
 * shutdown on SIGINT/SIGTERM (stop fetching, finish in-flight, drain NATS, quit Redis, flush logs).
 *
 *   tsx services/estimator/main.ts           run the consumer
 *   tsx services/estimator/main.ts rebuild   re-apply the whole events stream to Redis (idempotent), then exit
 *
 * Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
 */
import { createRedisClient } from '../../shared/redis.ts';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { connectNats, natsSettings } from '../../shared/nats.ts';
import { createEstimator } from './estimator.ts';

const SHUTDOWN_TIMEOUT_MS = 15_000;
const command = process.argv[2] ?? 'run';
const config = loadConfigOrExit();
const log = createLogger({ service: 'estimator', level: config.LOG_LEVEL });

if (command !== 'run' && command !== 'rebuild') {
  process.stderr.write(`unknown command "${command}" (use: run | rebuild)\n`);
  process.exit(2);
}
if (!config.PSEUDONYM_KEY) {
  process.stderr.write('Invalid configuration:\n  PSEUDONYM_KEY: required by the estimator (vehicle refs are pseudonymised before storing)\n');
  process.exit(2);
}

const catalogue = loadCatalogue();
const nc = await connectNats({ ...natsSettings(config), name: `estimator-${config.KEZEK_PREFIX}`, logger: log });
const redis = createRedisClient(config, { maxRetriesPerRequest: 2, enableOfflineQueue: true });
redis.on('error', (err) => log.warn({ err: { message: err.message } }, 'redis error'));

const estimator = createEstimator({
  nc,
  redis,
  catalogue,
  prefix: config.KEZEK_PREFIX,
  logger: log,
  pseudonymKey: config.PSEUDONYM_KEY,
  staleAfterMs: config.STALE_AFTER_SECONDS * 1000,
  partitioning: config.ESTIMATOR_PARTITIONING,
  leaseMs: config.ESTIMATOR_LEASE_MS,
  replicas: config.NATS_REPLICAS,
  consumer: { ackWaitMs: config.ESTIMATOR_ACK_WAIT_MS },
});

let closing: Promise<void> | undefined;
function shutdown(code: number, reason: string): Promise<void> {
  closing ??= (async () => {
    log.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      log.error('shutdown timed out');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS);
    timer.unref();
    await estimator.stop().catch((err: unknown) => log.error({ err }, 'stopping the estimator failed'));
    await nc.drain().catch((err: unknown) => log.warn({ err }, 'draining NATS failed'));
    await redis.quit().catch(() => redis.disconnect());
    log.info({ code }, 'bye');
    log.flush();
    process.exitCode = code;
  })();
  return closing;
}

process.once('SIGINT', () => void shutdown(0, 'SIGINT'));
process.once('SIGTERM', () => void shutdown(0, 'SIGTERM'));

try {
  if (command === 'rebuild') {
    const report = await estimator.rebuild('CLI rebuild');
    log.info(report, 'rebuild done');
    await shutdown(0, 'rebuild done');
  } else {
    await estimator.start();
  }
} catch (err) {
  log.error({ err }, 'estimator failed');
  await shutdown(1, 'failure');
}
