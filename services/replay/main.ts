/**
 * CLI: replay an NDJSON file of contract events into JetStream.
 *
 *   tsx services/replay/main.ts <file.ndjson> [--speed <n>|max] [--dry-run] [--strict]
 *
 * Exit codes: 0 done; 1 bad lines with --strict, or events left unacknowledged; 2 usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { connectNats, natsSettings, ensureStreamsIfAllowed } from '../../shared/nats.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { readNdjsonEvents, replayEvents, sortByEventTime, type BadLine, type ReplayProgress } from './replay.ts';

const USAGE = `Usage: tsx services/replay/main.ts <file.ndjson> [options]
  --speed <n>|max   replay n times faster than recorded (e.g. 1000), or as fast as acks allow (default: max)
  --dry-run         validate and report only; publish nothing
  --strict          abort (exit 1) if any line is bad, before publishing anything
Environment: NATS_URL, KEZEK_PREFIX, PSEUDONYM_KEY (required unless --dry-run), LOG_LEVEL, DATA_DIR.`;

const MAX_BAD_LINES_SHOWN = 50;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function reportBadLines(file: string, bad: BadLine[]): void {
  for (const b of bad.slice(0, MAX_BAD_LINES_SHOWN)) process.stderr.write(`${file}:${b.line}: ${b.reasons.join('; ')}\n`);
  if (bad.length > MAX_BAD_LINES_SHOWN) process.stderr.write(`... and ${bad.length - MAX_BAD_LINES_SHOWN} more bad lines\n`);
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { speed: { type: 'string' }, 'dry-run': { type: 'boolean' }, strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values: args, positionals } = parsed;
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) fail('expected exactly one NDJSON file');
  const file = positionals[0]!;
  if (!existsSync(file)) fail(`no such file: ${file}`);
  const speedArg = args.speed ?? 'max';
  const speed = speedArg === 'max' ? 'max' : Number(speedArg);
  if (speed !== 'max' && !(speed > 0)) fail(`--speed must be a positive number or "max" (got ${JSON.stringify(speedArg)})`);

  const config = loadConfigOrExit();
  const logger = createLogger({ service: 'replay', level: config.LOG_LEVEL });
  const catalogue = loadCatalogue();

  const read = await readNdjsonEvents(file, { catalogue });
  reportBadLines(file, read.bad);
  const summaryLine = `${file}: ${read.lines} lines, ${read.events.length} valid events, ${read.bad.length} bad lines${read.bad.length ? ' (skipped)' : ''}`;
  if (args.strict && read.bad.length) {
    process.stderr.write(`${summaryLine}\n--strict: aborting, nothing was published\n`);
    return 1;
  }
  const events = sortByEventTime(read.events).map((x) => x.event);
  if (args['dry-run']) {
    const span = events.length ? `${events[0]!.occurredAt} .. ${events[events.length - 1]!.occurredAt}` : 'no events';
    process.stdout.write(`${summaryLine}\ndry run: would publish ${events.length} events (${span}); nothing published\n`);
    return 0;
  }
  if (!config.PSEUDONYM_KEY) fail('PSEUDONYM_KEY must be set (at least 16 characters): vehicle references are pseudonymised before publishing.');

  const nc = await connectNats({ ...natsSettings(config), name: 'kezek-replay', logger });
  await ensureStreamsIfAllowed(nc, { prefix: config.KEZEK_PREFIX, replicas: config.NATS_REPLICAS }, logger);
  const publisher = createEventPublisher({
    nc,
    prefix: config.KEZEK_PREFIX,
    pseudonymKey: config.PSEUDONYM_KEY,
    bufferDir: join(config.DATA_DIR, 'replay-buffer'),
    logger,
  });

  let stop = false;
  const onSignal = () => {
    if (stop) return;
    stop = true;
    logger.warn('interrupted: finishing the current batch');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const tty = Boolean(process.stderr.isTTY);
  const bar = tty ? new SingleBar({ format: 'replay [{bar}] {percentage}% | {value}/{total} events | event time {eventTime}', hideCursor: true }, Presets.shades_classic) : undefined;
  bar?.start(events.length, 0, { eventTime: '-' });
  let lastLog = 0;
  const onProgress = (p: ReplayProgress) => {
    const eventTime = p.eventTimeMs ? new Date(p.eventTimeMs).toISOString() : '-';
    if (bar) bar.update(p.done, { eventTime });
    else if (Date.now() - lastLog >= 5000 || p.done === p.total) {
      lastLog = Date.now();
      logger.info({ done: p.done, total: p.total, stored: p.stored, duplicates: p.duplicates, buffered: p.buffered, eventTime }, 'replay progress');
    }
  };

  let exitCode = 0;
  try {
    const summary = await replayEvents({ publisher, events, speed, onProgress, shouldStop: () => stop });
    bar?.stop();
    try {
      await publisher.flush(60_000);
    } catch (err) {
      logger.error({ err }, 'some events are not acknowledged yet; they stay in the disk buffer and are resent on the next run');
      exitCode = 1;
    }
    process.stdout.write(
      `${summaryLine}\npublished ${summary.done}/${events.length}: ${summary.stored} stored, ${summary.duplicates} already in the stream, ${summary.buffered} went through the resend buffer${exitCode ? ' (not all acknowledged yet)' : ''}${summary.stoppedEarly ? ' (interrupted)' : ''}\n`,
    );
    if (summary.stoppedEarly) exitCode = 1;
  } finally {
    bar?.stop();
    await publisher.close();
    await nc.drain().catch((err: unknown) => logger.warn({ err }, 'NATS drain failed'));
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`replay failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
