/**
 * CLI: replay an NDJSON file (plain or gzip-compressed) of contract events into JetStream.
 *
 *   tsx services/replay/main.ts <file.ndjson[.gz]> [--speed <n>|max] [--shift-to <instant|now|now-1d>] [--dry-run] [--strict]
 *
 * Exit codes (EXIT below, and the help text): 0 done; 1 --strict refused, interrupted, or events left
 * unacknowledged; 2 usage or configuration error; 3 NATS unreachable; 4 no valid event in the file.
 */
import { parseArgs } from 'node:util';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadConfigOrExit } from '../../shared/config.ts';
import { natsSettings, ensureStreamsIfAllowed } from '../../shared/nats.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { InstantSchema, MAX_FUTURE_SKEW_MS, type KezekEvent } from '../../shared/events/index.ts';
import { STORE_DEFAULTS } from '../../shared/queue-store/store.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { EXIT_NATS_UNAVAILABLE, connectJetStream, createStderrLogger, onInterrupt } from '../../shared/cli.ts';
import { joinNegativeValues, parseArgsProblem } from '../../shared/cli-args.ts';
import {
  checkEventTimes,
  counted,
  STDIN,
  parseShiftTo,
  parseSpeed,
  readNdjsonEvents,
  replayEvents,
  shiftEvents,
  sortByEventTime,
  type BadLine,
  type ReplayProgress,
  type TimeCheck,
} from './replay.ts';

const EXIT = { OK: 0, FAILED: 1, USAGE: 2, NATS_UNAVAILABLE: EXIT_NATS_UNAVAILABLE, NO_VALID_EVENTS: 4 } as const;

const DAY_MS = 86_400_000;
const RETENTION_DAYS = STORE_DEFAULTS.retentionMs / DAY_MS;

const USAGE = `Usage: npm run replay -- <file> [options]
       tsx services/replay/main.ts <file> [options]

Publishes recorded v1 contract events to JetStream (through the buffered publisher), in event-time order.

<file>  NDJSON: one JSON event per line (docs/events.md); blank lines are ignored, bad lines are reported as
        file:line: reason and skipped. A gzip-compressed file (e.g. day.ndjson.gz) is decompressed on the fly.
        - reads standard input instead (plain or gzip-compressed too; bad lines are reported as stdin:line).

Options:
  --speed <n>|max      replay n times faster than recorded (a positive decimal number, e.g. 1000 or 0.5), or as fast
                       as acks allow (default: max). A paced replay never publishes an event before the clock reaches
                       its event time: events ahead of the clock are held until then, whatever the speed.
  --shift-to <when>    move every event by one constant so that the file's first event lands at <when>: an ISO-8601
                       instant with offset or Z, "now" (rounded down to the minute) or "now-<n>(s|m|h|d)", e.g.
                       now-1d. Shifted events get the eventId <eventId>@<shift in ms>: the same shift re-run adds
                       nothing, and other shifts never collide with it. The summary prints the instant to resume with.
  --from <instant>     publish only the events recorded at or after this ISO-8601 instant (with offset or Z; the
                       file's own times, before any --shift-to, which still counts from the file's first event so the
                       eventIds stay the same). An interrupted replay prints the --from to resume with; events at
                       that instant that were published already are recognised by their eventId and not stored twice.
  --dry-run            validate and report only; publish nothing (no NATS or PSEUDONYM_KEY needed)
  --strict             refuse (exit 1) before publishing anything if any line is bad, or if the estimator would drop
                       events for their time (see below)
  -h, --help           show this help

Event times: the estimator's queue store keeps ${RETENTION_DAYS} days behind each crossing's newest event and rejects events more
than 5 minutes in the future. Before publishing (and with --dry-run) replay warns on stderr about events that are
older than now - ${RETENTION_DAYS} days, or more than 5 minutes ahead, when they are published: the estimator dead-letters them
(too_late, invalid_event). Recorded files older than that need --shift-to. Only --speed max can publish events ahead
of the clock (a paced replay holds them until their time).

Environment:
  NATS_URL             NATS server(s), comma-separated (default nats://127.0.0.1:4222)
  NATS_USER            NATS user (unset: no authentication)
  NATS_PASSWORD        password of NATS_USER
  NATS_INBOX_PREFIX    reply inbox prefix (default _INBOX_<NATS_USER> with a user, _INBOX without)
  NATS_REPLICAS        replicas of the streams when replay creates them (default 1; as every service)
  KEZEK_PREFIX         namespace of subjects and streams (default kezek)
  PSEUDONYM_KEY        key pseudonymising vehicle refs before publishing, >= 16 characters (required unless --dry-run)
  DATA_DIR             directory of the resend buffer, $DATA_DIR/replay-buffer (default .data)
  LOG_LEVEL            level of the log on stderr (default info)
  (see docs/operations.md)

Output: the summary on stdout; bad lines, warnings, the log and progress on stderr (a progress bar on a terminal,
a JSON "replay progress" log line every 5 s otherwise).

Exit codes:
  0  done (bad lines skipped and time warnings do not change it; use --strict for that)
  1  --strict refused the file; interrupted (SIGINT/SIGTERM); or events not acknowledged yet (they stay in
     $DATA_DIR/replay-buffer and are resent on the next run)
  2  usage or configuration error (unknown option, missing, unreadable or directory <file>, bad env variable)
  3  cannot reach NATS (NATS_URL), NATS refused the credentials (NATS_USER, NATS_PASSWORD), or NATS has JetStream disabled
  4  no valid event in the file (empty, or every line bad): nothing to publish

Examples:
  npm run replay -- seeds/sample-day.ndjson --shift-to now-1d          # the sample day as the last 24 hours, at once
  npm run replay -- seeds/sample-day.ndjson --shift-to now --speed 1   # re-live the sample day in real time from now
  npm run replay -- recorded.ndjson.gz --dry-run --strict              # validate only: exit 0 if all is well
  ssh recorder cat day.ndjson.gz | npm run replay -- - --shift-to now-1d  # from a pipe`;

const OPTIONS = {
  speed: { type: 'string' },
  'shift-to': { type: 'string' },
  from: { type: 'string' },
  'dry-run': { type: 'boolean' },
  strict: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAX_BAD_LINES_SHOWN = 50;

function fail(message: string): never {
  process.stderr.write(`${message}\n\nRun with --help for usage.\n`);
  process.exit(EXIT.USAGE);
}

function reportBadLines(file: string, bad: BadLine[]): void {
  for (const b of bad.slice(0, MAX_BAD_LINES_SHOWN)) process.stderr.write(`${file}:${b.line}: ${b.reasons.join('; ')}\n`);
  if (bad.length > MAX_BAD_LINES_SHOWN) process.stderr.write(`... and ${counted(bad.length - MAX_BAD_LINES_SHOWN, 'more bad line')}\n`);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A path as one shell word (the resume command is meant to be pasted as it is). */
const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** +256d 07:25:00 */
/** `23 h 59 min` */
const hoursMinutes = (ms: number): string => `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;

function formatShift(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  let rest = Math.abs(ms);
  const days = Math.floor(rest / DAY_MS);
  rest -= days * DAY_MS;
  const hms = new Date(rest).toISOString().slice(11, rest % 1000 ? 23 : 19);
  return `${sign}${days ? `${days}d ` : ''}${hms}`;
}

/** The stderr warnings of a time check (empty when every event is fine). */
function timeWarnings(tc: TimeCheck, total: number, shifted: boolean): string[] {
  const out: string[] = [];
  if (tc.tooOld) {
    out.push(
      `warning: ${tc.tooOld} of ${total} events ${tc.tooOld === 1 ? 'is' : 'are'} older than the queue store's ${RETENTION_DAYS}-day retention when published ` +
        `(before ${iso(tc.cutoffMs)}; oldest ${iso(tc.oldestMs!)}): the estimator will dead-letter them as too_late ` +
        `(as soon as their crossing has any newer event, e.g. from the simulator) instead of applying them. ` +
        (shifted ? 'Use a later --shift-to (e.g. now-1d).' : 'Use --shift-to to move the file to recent times (e.g. --shift-to now-1d).'),
    );
  }
  if (tc.tooNew) {
    out.push(
      `warning: ${tc.tooNew} of ${total} events will be more than ${MAX_FUTURE_SKEW_MS / 60_000} minutes in the future when published ` +
        `(newest ${iso(tc.newestMs!)}): the estimator will dead-letter them as invalid_event. ` +
        'Use an earlier --shift-to (e.g. now-1d), or pace the replay with --speed <n> (a paced replay holds each event until its time).',
    );
  }
  return out;
}

/** One stdout line about the time problems, for the summary. */
function timeSummary(tc: TimeCheck): string {
  const parts = [tc.tooOld ? `${tc.tooOld} too old (too_late)` : '', tc.tooNew ? `${tc.tooNew} in the future (invalid_event)` : ''].filter(Boolean);
  return `warning: the estimator will dead-letter ${tc.tooOld + tc.tooNew} of these events for their time: ${parts.join(', ')}; see stderr`;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(process.argv.slice(2), OPTIONS), allowPositionals: true, options: OPTIONS, strict: true });
  } catch (err) {
    fail(parseArgsProblem(err, 'file'));
  }
  const { values: args, positionals } = parsed;
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.OK;
  }
  if (positionals.length !== 1) fail(`expected exactly one NDJSON file (got ${positionals.length} arguments)`);
  const file = positionals[0]!;
  const fromStdin = file === STDIN;
  // what bad lines and the summary are reported against: the path, or "stdin"
  const source = fromStdin ? 'stdin' : file;
  if (fromStdin) {
    // a terminal would sit waiting for typed events: say how it is meant to be used instead
    if (process.stdin.isTTY) fail(`"-" reads the events from standard input, which is a terminal here: pipe them in (e.g. zcat day.ndjson.gz | npm run replay -- - --dry-run)`);
  } else {
    let stat;
    try {
      stat = statSync(file);
    } catch {
      fail(`no such file: ${file}`);
    }
    if (stat.isDirectory()) fail(`${file} is a directory: give one NDJSON file (one event per line, optionally .gz-compressed)`);
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      fail(`cannot read ${file}: ${(err as Error).message}`);
    }
  }
  const speedArg = args.speed ?? 'max';
  let speed: number | 'max';
  try {
    speed = parseSpeed(speedArg);
  } catch (err) {
    fail((err as Error).message);
  }
  /** A paced replay holds each event until the clock reaches its time (replayEvents), and the time check knows it. */
  const hold = speed !== 'max';
  const shiftTo = args['shift-to'];
  if (shiftTo !== undefined) {
    try {
      parseShiftTo(shiftTo, Date.now()); // syntax check before reading the file; resolved again below
    } catch (err) {
      fail((err as Error).message);
    }
  }

  let fromMs: number | undefined;
  if (args.from !== undefined) {
    // the event contract's own instant rule (offset required, real calendar dates), so any recorded occurredAt works
    const instant = InstantSchema.safeParse(args.from);
    fromMs = instant.success ? Date.parse(instant.data) : NaN;
    if (!Number.isFinite(fromMs)) fail(`--from must be an ISO-8601 instant with an offset or Z, e.g. 2026-11-22T06:00:00Z (got ${JSON.stringify(args.from)}${instant.success ? '' : `: ${instant.error.issues[0]?.message ?? 'invalid'}`})`);
  }

  const config = loadConfigOrExit();
  const logger = createStderrLogger('replay', config.LOG_LEVEL);
  const catalogue = loadCatalogue();

  let read;
  try {
    // a file about to be shifted is checked for future events after the shift (checkEventTimes), not before
    read = await readNdjsonEvents(file, { catalogue, now: shiftTo !== undefined ? Infinity : undefined });
  } catch (err) {
    fail(`cannot read ${source}: ${(err as Error).message}`);
  }
  reportBadLines(source, read.bad);
  const summaryLine = `${source}: ${counted(read.lines, 'line')}, ${counted(read.events.length, 'valid event')}, ${counted(read.bad.length, 'bad line')}${read.bad.length ? ' (skipped)' : ''}`;
  if (read.events.length === 0) {
    process.stdout.write(`${summaryLine}\n`);
    process.stderr.write(`no valid event in ${source}${read.lines ? '' : ` (${fromStdin ? 'the input' : 'the file'} is empty)`}: nothing to publish\n`);
    return EXIT.NO_VALID_EVENTS;
  }
  if (args.strict && read.bad.length) {
    process.stderr.write(`${summaryLine}\n--strict: aborting, nothing was published\n`);
    return EXIT.FAILED;
  }

  const all = sortByEventTime(read.events).map((x) => x.event);
  // the shift counts from the file's first event even with --from: a resumed run gives the same eventIds
  const firstMs = Date.parse(all[0]!.occurredAt);
  const sorted = fromMs === undefined ? all : all.filter((e) => Date.parse(e.occurredAt) >= fromMs);
  const fromLine = fromMs === undefined ? '' : `--from ${iso(fromMs)}: ${sorted.length} of ${all.length} events ${sorted.length === 1 ? 'is' : 'are'} at or after it`;
  if (sorted.length === 0) {
    process.stdout.write(`${[summaryLine, fromLine].join('\n')}\n`);
    process.stderr.write(`no event at or after --from ${iso(fromMs!)} (the file's last event is at ${all[all.length - 1]!.occurredAt}): nothing to publish\n`);
    return EXIT.NO_VALID_EVENTS;
  }
  let events: KezekEvent[] = sorted;
  let shiftLine = '';
  /** The resolved --shift-to ("now-1d" means another instant on the next run): what a resumed run must pass. */
  let shiftTarget: string | undefined;
  if (shiftTo !== undefined) {
    const targetMs = parseShiftTo(shiftTo, Date.now());
    shiftTarget = iso(targetMs);
    const shiftMs = targetMs - firstMs;
    events = shiftEvents(sorted, shiftMs);
    shiftLine =
      shiftMs === 0
        ? `--shift-to ${shiftTo}: the first event is already at ${iso(targetMs)}; nothing shifted`
        : `shifted by ${formatShift(shiftMs)} (${shiftMs} ms): first event ${iso(firstMs)} -> ${iso(targetMs)}; eventIds end in @${shiftMs} (resume with --shift-to ${iso(targetMs)})`;
  }

  const tc = checkEventTimes(events, { nowMs: Date.now(), retentionMs: STORE_DEFAULTS.retentionMs, maxFutureSkewMs: MAX_FUTURE_SKEW_MS, speed, holdUntilEventTime: hold });
  for (const w of timeWarnings(tc, events.length, shiftTo !== undefined)) process.stderr.write(`${w}\n`);
  const timeLine = tc.tooOld || tc.tooNew ? timeSummary(tc) : '';
  // a paced replay never publishes ahead of the clock: one whose first event is later than that waits, silently
  // under a progress bar, until then (a typo like --shift-to now+1d): say so, and --strict refuses it
  const firstAt = Date.parse(events[0]!.occurredAt);
  const waitMs = hold ? firstAt - Date.now() : 0;
  const waitLine = waitMs > MAX_FUTURE_SKEW_MS ? `warning: the first event is at ${iso(firstAt)}: the paced replay will wait ${hoursMinutes(waitMs)} before publishing anything` : '';
  if (waitLine) process.stderr.write(`${waitLine}\n`);
  if (args.strict && waitLine) {
    process.stderr.write(`${summaryLine}\n--strict: aborting, nothing was published: the replay would wait ${hoursMinutes(waitMs)} for its first event\n`);
    return EXIT.FAILED;
  }
  if (args.strict && timeLine) {
    process.stderr.write(`${summaryLine}\n--strict: aborting, nothing was published: the estimator would drop ${counted(tc.tooOld + tc.tooNew, 'event')} for their time\n`);
    return EXIT.FAILED;
  }

  const header = [summaryLine, fromLine, shiftLine, timeLine].filter(Boolean).join('\n');
  if (args['dry-run']) {
    const span = `${events[0]!.occurredAt} .. ${events[events.length - 1]!.occurredAt}`;
    const badNote = read.bad.length ? `dry run: ${counted(read.bad.length, 'bad line')} (listed on stderr) would be skipped; --strict would refuse the file\n` : '';
    process.stdout.write(`${header}\n${badNote}dry run: would publish ${counted(events.length, 'event')} (${span}); nothing published\n`);
    return EXIT.OK;
  }
  if (!config.PSEUDONYM_KEY) fail('PSEUDONYM_KEY must be set (at least 16 characters): vehicle references are pseudonymised before publishing.');

  const connected = await connectJetStream({ ...natsSettings(config), name: 'kezek-replay', logger });
  if ('problem' in connected) {
    process.stderr.write(`${connected.problem}\nnothing was published\n`);
    return EXIT.NATS_UNAVAILABLE;
  }
  const { nc } = connected;
  await ensureStreamsIfAllowed(nc, { prefix: config.KEZEK_PREFIX, replicas: config.NATS_REPLICAS }, logger);
  const publisher = createEventPublisher({
    nc,
    prefix: config.KEZEK_PREFIX,
    pseudonymKey: config.PSEUDONYM_KEY,
    bufferDir: join(config.DATA_DIR, 'replay-buffer'),
    logger,
  });

  let stop = false;
  onInterrupt(
    () => {
      stop = true;
      logger.warn('interrupted: finishing the current batch');
    },
    () => process.stderr.write('interrupted again: quitting now (events not yet acknowledged stay in the resend buffer)\n'),
  );

  const tty = Boolean(process.stderr.isTTY);
  const bar = tty
    ? new SingleBar({ format: 'replay [{bar}] {percentage}% | {value}/{total} events | event time {eventTime} | ETA {eta_formatted}', hideCursor: true, etaBuffer: 50 }, Presets.shades_classic)
    : undefined;
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

  let exitCode: number = EXIT.OK;
  try {
    const summary = await replayEvents({ publisher, events, speed, onProgress, shouldStop: () => stop, holdUntilEventTime: hold ? Date.now : undefined });
    bar?.stop();
    try {
      await publisher.flush(60_000);
    } catch (err) {
      logger.error({ err }, 'some events are not acknowledged yet; they stay in the disk buffer and are resent on the next run');
      exitCode = EXIT.FAILED;
    }
    process.stdout.write(
      `${header}\npublished ${summary.done}/${events.length}: ${summary.stored} stored, ${summary.duplicates} already in the stream, ${summary.buffered} went through the resend buffer${exitCode ? ' (not all acknowledged yet)' : ''}${summary.stoppedEarly ? ' (interrupted)' : ''}\n`,
    );
    if (summary.stoppedEarly) {
      exitCode = EXIT.FAILED;
      const next = sorted[summary.done];
      if (next) {
        const from = iso(Date.parse(next.occurredAt));
        const again = [shellQuote(file), `--from ${from}`, shiftTarget !== undefined ? `--shift-to ${shiftTarget}` : '', speedArg !== 'max' ? `--speed ${speedArg}` : ''].filter(Boolean).join(' ');
        process.stdout.write(`interrupted: to resume, run again with --from ${from} (npm run replay -- ${again}${fromStdin ? ', with the same input piped in' : ''})\n`);
      }
    }
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
    process.exit(EXIT.FAILED);
  },
);
