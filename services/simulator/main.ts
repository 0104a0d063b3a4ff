/**
 * Composition root of the traffic simulator: config -> logger -> NATS -> streams -> publisher -> simulator,
 * and an ordered, idempotent, bounded shutdown on SIGINT/SIGTERM (stop simulating, flush the publisher, drain NATS).
 *
 *   tsx services/simulator/main.ts [--speed 60] [--seed 42] [--crossing korday]... [--start ISO] [--end ISO]
 *
 * Exit codes: 0 done (--end reached, or SIGINT/SIGTERM); 1 runtime failure; 2 usage or configuration error;
 * 3 NATS unreachable, credentials refused, or NATS without JetStream.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { natsSettings, ensureStreamsIfAllowed } from '../../shared/nats.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { STORE_DEFAULTS } from '../../shared/queue-store/store.ts';
import { connectJetStreamOrExit, onInterrupt } from '../../shared/cli.ts';
import { createSimulator } from './simulator.ts';

const DAY_MS = 86_400_000;
const RETENTION_DAYS = STORE_DEFAULTS.retentionMs / DAY_MS;

const USAGE = `Usage: tsx services/simulator/main.ts [options]
  --speed <n|max>    simulated seconds per wall second while catching up to now, at most 100000 = max (default SIMULATOR_SPEED or 1)
  --seed <n>         random seed (default SIMULATOR_SEED or 42)
  --crossing <id>    simulate only this crossing (repeatable; default: all catalogued crossings)
  --start <ISO>      simulated start, an instant with offset or Z, not in the future (default: now at speed 1,
                     now - 24h when accelerated); more than ${RETENTION_DAYS} days ago gets a warning: the estimator keeps ${RETENTION_DAYS} days
                     behind each crossing's newest event and dead-letters older events as too_late
  --end <ISO>        stop when simulated time reaches this instant, after the start (default: run until SIGINT/SIGTERM)
  -h, --help         show this help
Environment: PSEUDONYM_KEY (required), NATS_URL, NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX, NATS_REPLICAS,
  KEZEK_PREFIX, LOG_LEVEL, DATA_DIR (publisher buffer), SIMULATOR_SPEED, SIMULATOR_SEED; see docs/operations.md.
Exit codes: 0 done (--end reached, or stopped by SIGINT/SIGTERM), 1 runtime failure, 2 usage or configuration error,
  3 cannot reach NATS (NATS_URL), NATS refused the credentials (NATS_USER, NATS_PASSWORD), or NATS has JetStream disabled.
Examples:
  npm run simulate                                          # live traffic from now on, all crossings
  npm run simulate -- --speed 360 --crossing korday         # the last 24 h of korday at 360x (4 min), then live
  npm run simulate -- --speed max --start 2026-11-20T00:00:00+05:00 --end 2026-11-21T00:00:00+05:00
                                                            # one past day as fast as possible, then exit`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\nRun with --help for usage.\n`);
  process.exit(2);
}

function parseInstant(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (!Number.isFinite(t) || !/^\d{4}-\d{2}-\d{2}T/.test(v) || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v)) {
    fail(`--${name} must be an ISO-8601 instant with offset or Z, e.g. 2026-11-20T00:00:00+05:00 (got ${JSON.stringify(v)})`);
  }
  return t;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The checks of --start and --end against each other and the clock: a start in the future or an empty range is a
 * usage error (exit 2); a start beyond the queue store's retention returns a warning.
 */
function checkSimulatedRange(o: { startMs?: number; endMs?: number; speed: number; nowMs: number; start?: string; end?: string }): string | undefined {
  if (o.startMs !== undefined && o.startMs > o.nowMs) {
    fail(`--start ${o.start} is in the future (now is ${iso(o.nowMs)}): the simulator never produces future events; leave --start out to start now`);
  }
  // the simulator's default start (simulator.ts): now at speed 1, now - 24 h when accelerated
  const startMs = o.startMs ?? (o.speed > 1 ? o.nowMs - DAY_MS : o.nowMs);
  if (o.endMs !== undefined && o.endMs <= startMs) {
    const startText = o.startMs !== undefined ? `--start ${o.start}` : `the default start ${iso(startMs)} (${o.speed > 1 ? 'now - 24 h when accelerated' : 'now at speed 1'})`;
    fail(`--end ${o.end} must be after ${startText}: nothing would be simulated`);
  }
  const ageMs = o.nowMs - startMs;
  if (ageMs > STORE_DEFAULTS.retentionMs) {
    return (
      `warning: --start ${o.start} is ${(ageMs / DAY_MS).toFixed(1)} days ago, beyond the queue store's ${RETENTION_DAYS}-day retention: ` +
      `the estimator dead-letters events older than ${RETENTION_DAYS} days behind their crossing's newest event as too_late, so events before ` +
      `${iso(o.nowMs - STORE_DEFAULTS.retentionMs)} will be dropped if the crossing already has recent events (e.g. a running simulator)`
    );
  }
  return undefined;
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
  if (!config.PSEUDONYM_KEY) {
    // a configuration problem, not a usage one: no "--help" hint
    process.stderr.write('Invalid configuration:\n  PSEUDONYM_KEY: must be set (at least 16 characters): producers pseudonymise vehicle references before publishing\n');
    process.exit(2);
  }
  const startMs = parseInstant('start', args.start);
  const endMs = parseInstant('end', args.end);
  const warning = checkSimulatedRange({ startMs, endMs, speed, nowMs: Date.now(), start: args.start, end: args.end });
  if (warning) process.stderr.write(`${warning}\n`);

  const logger = createLogger({ service: 'simulator', level: config.LOG_LEVEL });
  const catalogue = loadCatalogue();
  const unknown = (args.crossing ?? []).filter((id) => !catalogue.has(id));
  if (unknown.length) fail(`unknown crossing(s): ${unknown.join(', ')} (known: ${catalogue.crossings.map((c) => c.id).join(', ')})`);
  // without JetStream nothing would ever store the events: the publisher buffered them to disk forever
  const nc = await connectJetStreamOrExit({ ...natsSettings(config), name: 'kezek-simulator', logger });
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
  onInterrupt((signal) => void shutdown(signal).then(() => process.exit(0)));

  simulator.start();
  await simulator.finished();
  await shutdown('finished');
}

main().catch((err: unknown) => {
  process.stderr.write(`simulator failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
