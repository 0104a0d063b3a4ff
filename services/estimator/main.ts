/**
 * Estimator composition root: config -> logger -> catalogue -> NATS + Redis -> estimator.start() -> ordered
 * shutdown on SIGINT/SIGTERM (stop fetching, finish in-flight, drain NATS, quit Redis, flush logs).
 *
 *   tsx services/estimator/main.ts           run the consumer
 *   tsx services/estimator/main.ts rebuild   re-apply the whole events stream to Redis (idempotent), then exit
 *
 * Exit codes: see USAGE.
 */
import { connectJetStreamOrExit, connectRedisOrExit, onInterrupt } from '../../shared/cli.ts';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { natsSettings } from '../../shared/nats.ts';
import { jetstreamManager } from '@nats-io/jetstream';
import { createEstimator } from './estimator.ts';
import { consumersInUse } from './consumer.ts';

const USAGE = `Usage: tsx services/estimator/main.ts [run | rebuild [--force] | --help]
  run        consume the events stream and publish estimates (default; npm start runs it)
  rebuild    re-apply the whole events stream to Redis (idempotent), refresh every estimate, then exit
             (npm run rebuild). Refused while an estimator is consuming: stop it first, or --force
Environment: PSEUDONYM_KEY (required), NATS_URL, NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX, NATS_REPLICAS,
  REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_NAME, KEZEK_PREFIX, LOG_LEVEL, STALE_AFTER_SECONDS, STALE_QUIET_MAX_SECONDS,
  ESTIMATOR_PARTITIONING, ESTIMATOR_LEASE_MS, ESTIMATOR_ACK_WAIT_MS (docs/operations.md)
Exit codes: 0 done / clean stop, 1 runtime failure, 2 usage or configuration error, 3 NATS or Redis unreachable
  (or NATS without JetStream), 4 rebuild refused (an estimator is consuming), 130 rebuild interrupted (Ctrl-C: run it again, it is idempotent)`;

const SHUTDOWN_TIMEOUT_MS = 15_000;
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h') || args[0] === 'help') {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const command = args[0] ?? 'run';
const force = command === 'rebuild' && args[1] === '--force';
const extra = args.slice(command === 'rebuild' && force ? 2 : 1);
if ((command !== 'run' && command !== 'rebuild') || extra.length > 0) {
  process.stderr.write(`${command !== 'run' && command !== 'rebuild' ? `unknown command "${command}"` : `unknown argument(s): ${extra.join(' ')}`}\n\n${USAGE}\n`);
  process.exit(2);
}
// Until the estimator exists, a signal has nothing to stop: say so and exit (without a listener, Node exits 130
// silently, which left an operator guessing whether a rebuild had begun). Once it exists, the graceful stop below takes over.
let interrupted: (signal: NodeJS.Signals) => void = (signal) => {
  process.stderr.write(command === 'rebuild' ? 'rebuild interrupted before it started: nothing was changed\n' : `${signal} before the estimator started: stopped\n`);
  process.exit(command === 'rebuild' ? 130 : 0);
};
onInterrupt((signal) => interrupted(signal));

const config = loadConfigOrExit();
const log = createLogger({ service: 'estimator', level: config.LOG_LEVEL });

if (!config.PSEUDONYM_KEY) {
  process.stderr.write('Invalid configuration:\n  PSEUDONYM_KEY: required by the estimator (vehicle refs are pseudonymised before storing)\n');
  process.exit(2);
}

const catalogue = loadCatalogue();
const nc = await connectJetStreamOrExit({ ...natsSettings(config), name: `estimator-${config.KEZEK_PREFIX}`, logger: log });
const redis = await connectRedisOrExit(config, { maxRetriesPerRequest: 2, enableOfflineQueue: true }, log);

if (command === 'rebuild' && !force) {
  const crossings = [...new Set(catalogue.queues().map((q) => q.crossingId))];
  const inUse = await consumersInUse(await jetstreamManager(nc), config.KEZEK_PREFIX, crossings).catch(() => [] as string[]);
  if (inUse.length > 0) {
    process.stderr.write(
      `rebuild refused: an estimator is consuming ${inUse.join(', ')}. A rebuild deletes and re-creates that consumer, and the two would\n` +
        'keep undoing each other. Stop the running estimator(s) first (a running estimator also rebuilds by itself when Redis\n' +
        'lost its data), or pass --force.\n',
    );
    await nc.close();
    redis.disconnect();
    process.exit(4);
  }
}

const estimator = createEstimator({
  nc,
  redis,
  catalogue,
  prefix: config.KEZEK_PREFIX,
  logger: log,
  pseudonymKey: config.PSEUDONYM_KEY,
  staleAfterMs: config.STALE_AFTER_SECONDS * 1000,
  maxSilenceMs: config.STALE_QUIET_MAX_SECONDS * 1000,
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

// a signal stops the consumer cleanly (0); it interrupts a rebuild, whose state is then partial (130: run it again)
interrupted = (signal) => {
  if (command === 'rebuild') process.stderr.write('rebuild interrupted: the store is partly rebuilt; run the rebuild again (it is idempotent)\n');
  void shutdown(command === 'rebuild' ? 130 : 0, signal);
};

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
