/**
 * Composition root of the traffic simulator: config -> logger -> NATS -> streams -> publisher -> simulator,
 * and an ordered, idempotent, bounded shutdown on SIGINT/SIGTERM (stop simulating, flush the publisher, drain NATS).
 *
 *   tsx services/simulator/main.ts [--speed 60] [--seed 42] [--crossing korday]... [--start ISO] [--end ISO]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { connectNats, natsSettings, ensureStreamsIfAllowed } from '../../shared/nats.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { createSimulator } from './simulator.ts';

const USAGE = `Usage: tsx services/simulator/main.ts [options]
  --speed <n|max>    simulated seconds per wall second while catching up to now, at most 100000 = max (default SIMULATOR_SPEED or 1)
  --seed <n>         random seed (default SIMULATOR_SEED or 42)
  --crossing <id>    simulate only this crossing (repeatable; default: all catalogued crossings)
  --start <ISO>      simulated start (default: now at speed 1, now - 24h when accelerated)
  --end <ISO>        stop when simulated time reaches this instant (default: run until SIGINT/SIGTERM)
Environment: PSEUDONYM_KEY (required), NATS_URL, NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX, NATS_REPLICAS,
  KEZEK_PREFIX, LOG_LEVEL, DATA_DIR (publisher buffer); see docs/operations.md.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function parseInstant(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t) || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v)) fail(`--${name} must be an ISO-8601 instant with offset or Z (got ${JSON.stringify(v)})`);
  return t;
}

async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        speed: { type: 'string' },
        seed: { type: 'string' },
        crossing: { type: 'string', multiple: true },
        start: { type: 'string' },
        end: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    fail((err as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadConfigOrExit();
  const speed = args.speed === 'max' ? 100_000 : args.speed !== undefined ? Number(args.speed) : config.SIMULATOR_SPEED;
  if (!(speed > 0 && speed <= 100_000)) fail(`--speed must be a number in (0, 100000] (got ${JSON.stringify(args.speed)})`);
  const seed = args.seed !== undefined ? Number(args.seed) : config.SIMULATOR_SEED;
  if (!Number.isInteger(seed)) fail(`--seed must be an integer (got ${JSON.stringify(args.seed)})`);
  if (!config.PSEUDONYM_KEY) fail('PSEUDONYM_KEY must be set (at least 16 characters): producers pseudonymise vehicle references before publishing.');
  const startMs = parseInstant('start', args.start);
  const endMs = parseInstant('end', args.end);

  const logger = createLogger({ service: 'simulator', level: config.LOG_LEVEL });
  const catalogue = loadCatalogue();
  const nc = await connectNats({ ...natsSettings(config), name: 'kezek-simulator', logger });
  await ensureStreamsIfAllowed(nc, { prefix: config.KEZEK_PREFIX, replicas: config.NATS_REPLICAS }, logger);
  const publisher = createEventPublisher({
    nc,
    prefix: config.KEZEK_PREFIX,
    pseudonymKey: config.PSEUDONYM_KEY,
    bufferDir: join(config.DATA_DIR, 'simulator-buffer'),
    logger,
  });
  let simulator;
  try {
    simulator = createSimulator({ catalogue, publisher, speed, seed, startMs, endMs, logger, crossings: args.crossing });
  } catch (err) {
    await publisher.close();
    await nc.drain();
    fail((err as Error).message);
  }

  let shuttingDown: Promise<void> | undefined;
  const shutdown = (reason: string) =>
    (shuttingDown ??= (async () => {
      logger.info({ reason }, 'shutting down');
      const guard = setTimeout(() => {
        logger.error('shutdown took longer than 15 s; exiting');
        process.exit(1);
      }, 15_000);
      guard.unref();
      await simulator.stop();
      await publisher.flush(10_000).catch((err: unknown) => logger.warn({ err }, 'publisher not fully flushed; the disk buffer keeps the rest'));
      await publisher.close();
      await nc.drain().catch((err: unknown) => logger.warn({ err }, 'NATS drain failed'));
      logger.flush();
    })());
  process.once('SIGINT', () => void shutdown('SIGINT').then(() => process.exit(0)));
  process.once('SIGTERM', () => void shutdown('SIGTERM').then(() => process.exit(0)));

  simulator.start();
  await simulator.finished();
  await shutdown('finished');
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
