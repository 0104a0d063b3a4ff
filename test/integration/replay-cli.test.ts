/**
 * services/replay/main.ts as an operator runs it, against the shared test NATS (and an in-process estimator on the
 * shared Redis for the retention case): help, exit codes, time warnings and --shift-to, where the output goes.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { subjectForEvent, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { natsUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { estimatorTestEnv, TEST_PSEUDONYM_KEY as KEY } from '../helpers/estimator-env.ts';
import { until } from '../helpers/until.ts';
import { ROOT, runCli } from '../helpers/cli.ts';

const SAMPLE = join(ROOT, 'seeds/sample-day.ndjson');
const SAMPLE_EVENTS = readFileSync(SAMPLE, 'utf8').trim().split('\n').length;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const catalogue = loadCatalogue();
const logger = createLogger({ service: 'replay-cli-test', level: 'silent', pretty: false });
const { cleanups, setup } = estimatorTestEnv();

const replay = (args: string[], env: Record<string, string> = {}, input?: Buffer | string) =>
  runCli('services/replay/main.ts', args, { NATS_URL: natsUrl(), KEZEK_PREFIX: uniquePrefix(), PSEUDONYM_KEY: KEY, LOG_LEVEL: 'warn', DATA_DIR: tempDir('kezek-replay-cli-data'), ...env }, { input });

const lanes = (id: string, atMs: number): KezekEvent =>
  ({ eventId: id, type: 'lanes.changed', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date(atMs).toISOString(), lanesOpen: 2 }) as KezekEvent;

function writeLines(name: string, lines: string[]): string {
  const path = join(tempDir('kezek-replay-cli'), name);
  writeFileSync(path, lines.length ? lines.join('\n') + '\n' : '');
  return path;
}

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

describe('replay CLI', () => {
  it('--help lists every env var it reads, the file format, the exit codes and examples', async () => {
    const r = await replay(['--help']);
    expect(r.code).toBe(0);
    for (const v of ['NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'NATS_INBOX_PREFIX', 'NATS_REPLICAS', 'KEZEK_PREFIX', 'PSEUDONYM_KEY', 'DATA_DIR', 'LOG_LEVEL']) {
      expect(r.stdout).toContain(v);
    }
    expect(r.stdout).toMatch(/NDJSON/);
    expect(r.stdout).toMatch(/gzip/);
    expect(r.stdout).toMatch(/--shift-to/);
    expect(r.stdout).toMatch(/Exit codes:[\s\S]*\n\s+3\s+cannot reach NATS[\s\S]*\n\s+4\s+no valid event/);
    expect(r.stdout.match(/npm run replay -- \S+/g)!.length).toBeGreaterThanOrEqual(3);
  });

  it('usage errors exit 2 with a clear message: a directory, a bad --shift-to', async () => {
    const dir = await replay([tempDir('kezek-replay-dir')]);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/is a directory: give one NDJSON file/);
    expect(dir.stderr).not.toMatch(/EISDIR/);
    noStack(dir.stderr);

    const shift = await replay([SAMPLE, '--shift-to', 'yesterday', '--dry-run']);
    expect(shift.code).toBe(2);
    expect(shift.stderr).toMatch(/--shift-to must be an ISO-8601 instant .*"now"/);
  });

  it('bad options and --speed values name the option and what it must be (no parseArgs "ambiguous", no exponent)', { timeout: 60_000 }, async () => {
    const cases: [string[], string][] = [
      [['--speed', '-1'], '--speed must be "max" or a positive decimal number such as 60 or 0.5 (got "-1")\n'],
      [['--speed', '1e3'], '--speed must be "max" or a positive decimal number such as 60 or 0.5 (got "1e3")\n'],
      [['--bogus'], 'unknown option --bogus (a file whose name starts with "-" goes after "--", as in: -- --bogus)\n'],
    ];
    for (const [args, message] of cases) {
      const r = await replay([SAMPLE, '--dry-run', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.slice(0, message.length), args.join(' ')).toBe(message); // the first line: the whole message
      expect(r.stderr).not.toMatch(/ambiguous|Did you forget/);
    }
  });

  it('no valid event (every line bad, or an empty file) exits 4, with or without --dry-run; --dry-run says bad lines will be skipped', { timeout: 60_000 }, async () => {
    const allBad = writeLines('bad.ndjson', ['{not json', JSON.stringify({ ...lanes('x', Date.now()), crossingId: 'atlantis' })]);
    for (const args of [[allBad, '--dry-run'], [allBad], [allBad, '--strict']]) {
      const r = await replay(args);
      expect(r.code, args.join(' ')).toBe(4);
      expect(r.stdout).toContain('0 valid events, 2 bad lines');
      expect(r.stderr).toMatch(/no valid event in .*bad\.ndjson: nothing to publish/);
    }
    const empty = await replay([writeLines('empty.ndjson', []), '--dry-run']);
    expect(empty.code).toBe(4);
    expect(empty.stderr).toMatch(/\(the file is empty\)/);

    const someBad = writeLines('some.ndjson', ['{not json', JSON.stringify(lanes('ok-1', Date.now() - HOUR))]);
    const dry = await replay([someBad, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('2 lines, 1 valid event, 1 bad line (skipped)');
    expect(dry.stdout).toMatch(/dry run: 1 bad line \(listed on stderr\) would be skipped; --strict would refuse the file/);
    expect(dry.stdout).toMatch(/dry run: would publish 1 event \(/);
  });

  it('unreachable NATS: one line naming NATS_URL, exit 3, no stack trace', async () => {
    const r = await replay([writeLines('one.ndjson', [JSON.stringify(lanes('u-1', Date.now() - HOUR))])], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^cannot reach NATS at nats:\/\/127\.0\.0\.1:1 \(NATS_URL\): connection refused\n/);
    expect(r.stdout).toBe('');
    noStack(r.stderr);
  });

  it('events older than the retention: --dry-run warns (count, oldest, too_late, --shift-to), --strict refuses, a shift to recent times does not warn', { timeout: 60_000 }, async () => {
    const dry = await replay([SAMPLE, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toMatch(new RegExp(`warning: ${SAMPLE_EVENTS} of ${SAMPLE_EVENTS} events are older than the queue store's 7-day retention .*oldest 2026-03-09T19:00:00.000Z.*too_late.*--shift-to`));
    expect(dry.stdout).toMatch(/warning: the estimator will dead-letter \d+ of these events for their time/);

    const strict = await replay([SAMPLE, '--dry-run', '--strict']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/--strict: aborting, nothing was published/);

    const shifted = await replay([SAMPLE, '--dry-run', '--strict', '--shift-to', 'now-1d']);
    expect(shifted.code, shifted.stderr).toBe(0);
    expect(shifted.stderr).not.toMatch(/warning/);
    expect(shifted.stdout).toMatch(/shifted by \+\d+d [\d:]+ \(\d+ ms\): first event 2026-03-09T19:00:00.000Z -> /);

    // shifted to now and replayed at once, most of the day would be in the future
    const future = await replay([SAMPLE, '--dry-run', '--shift-to', 'now']);
    expect(future.stderr).toMatch(/events will be more than 5 minutes in the future when published .*invalid_event/);
  });

  it('a paced replay faster than real time is not warned about (or refused) for the future: it holds events until their time', { timeout: 60_000 }, async () => {
    for (const args of [['--shift-to', 'now', '--speed', '2'], ['--shift-to', 'now-2h', '--speed', '60']]) {
      const r = await replay([SAMPLE, '--dry-run', '--strict', ...args]);
      expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
      expect(r.stderr).not.toMatch(/warning|in the future/);
      expect(r.stdout).toMatch(new RegExp(`dry run: would publish ${SAMPLE_EVENTS} events`));
    }
    // but a first event far ahead of the clock means a long silent wait: warned, and refused by --strict
    const later = new Date(Date.now() + 86_400_000).toISOString();
    const ahead = await replay([SAMPLE, '--dry-run', '--shift-to', later, '--speed', '60']);
    expect(ahead.code, ahead.stderr).toBe(0);
    expect(ahead.stderr).toMatch(/warning: the first event is at .*: the paced replay will wait (23|24) ?h/);
    const strict = await replay([SAMPLE, '--dry-run', '--strict', '--shift-to', later, '--speed', '60']);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/--strict: aborting, nothing was published: the replay would wait/);
  });

  it('an interrupted paced replay says how to resume; --from publishes only the rest; what was stored already is not stored twice', { timeout: 90_000 }, async () => {
    const t0 = Math.floor((Date.now() - 10 * 60_000) / 1000) * 1000; // whole seconds: --from is also given in the compact form below
    const path = writeLines('paced.ndjson', [0, 1, 2].map((i) => JSON.stringify(lanes(`paced-${i}`, t0 + i * 60_000))));
    const env = { NATS_URL: natsUrl(), KEZEK_PREFIX: uniquePrefix(), PSEUDONYM_KEY: KEY, LOG_LEVEL: 'info', DATA_DIR: tempDir('kezek-replay-cli-data') };
    const run = (args: string[], opts = {}) => runCli('services/replay/main.ts', args, env, { killAfterMs: 30_000, ...opts });
    // in real time the second event is a minute away: interrupted after the first
    const first = await run([path, '--speed', '1'], { signalAfter: { text: /replay progress/, signal: 'SIGINT' } });
    expect(first.code, first.out).toBe(1);
    const second = new Date(t0 + 60_000).toISOString();
    expect(first.stdout).toContain('published 1/3: 1 stored');
    expect(first.stdout).toContain(`interrupted: to resume, run again with --from ${second} (npm run replay -- ${path} --from ${second} --speed 1)`);
    const rest = await run([path, '--from', second]);
    expect(rest.code, rest.out).toBe(0);
    expect(rest.stdout).toContain(`--from ${second}: 2 of 3 events are at or after it`);
    expect(rest.stdout).toContain('published 2/2: 2 stored, 0 already in the stream');
    const again = await run([path, '--from', new Date(t0).toISOString()]);
    expect(again.stdout).toContain('published 3/3: 0 stored, 3 already in the stream');
    // a --from that is not an instant (or not a real date) is a usage error; one after the last event publishes nothing
    expect((await run([path, '--from', 'yesterday', '--dry-run'])).code).toBe(2);
    expect((await run([path, '--from', '2026-02-30T00:00:00Z', '--dry-run'])).code).toBe(2);
    // any offset form the event contract accepts
    const compact = new Date(t0 + 60_000 + 5 * HOUR).toISOString().slice(0, 19) + '+0500';
    expect((await run([path, '--from', compact, '--dry-run'])).stdout).toContain(`--from ${second}: 2 of 3 events are at or after it`);
    const late = await run([path, '--from', new Date(t0 + HOUR).toISOString()]);
    expect(late.code).toBe(4);
    expect(late.stderr).toMatch(/no event at or after --from/);
  });

  it('"-" reads the events from standard input, plain or gzip-compressed, bad lines reported as stdin:<line>', { timeout: 60_000 }, async () => {
    const prefix = uniquePrefix();
    const lines = [0, 1, 2].map((i) => JSON.stringify(lanes(`in-${i}`, Date.now() - HOUR + i)));
    const text = [lines[0], '{not json', lines[1], lines[2]].join('\n') + '\n';
    const plain = await replay(['-'], { KEZEK_PREFIX: prefix }, text);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/^stdin:2: invalid JSON/m);
    expect(plain.stdout).toContain('stdin: 4 lines, 3 valid events, 1 bad line (skipped)');
    expect(plain.stdout).toContain('published 3/3: 3 stored');
    // the same events gzipped through the pipe: recognised by content, and already in the stream
    const gz = await replay(['-'], { KEZEK_PREFIX: prefix }, gzipSync(lines.join('\n')));
    expect(gz.code, gz.stderr).toBe(0);
    expect(gz.stdout).toContain('stdin: 3 lines, 3 valid events, 0 bad lines');
    expect(gz.stdout).toContain('published 3/3: 0 stored, 3 already in the stream');
    // nothing piped in
    const empty = await replay(['-', '--dry-run'], {}, '');
    expect(empty.code).toBe(4);
    expect(empty.stderr).toContain('no valid event in stdin (the input is empty)');
  });

  it('non-TTY progress goes to stderr as JSON; stdout holds only the summary', async () => {
    const path = writeLines('p.ndjson', [0, 1, 2].map((i) => JSON.stringify(lanes(`p-${i}`, Date.now() - HOUR + i))));
    const r = await replay([path], { LOG_LEVEL: 'info' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/replay progress/);
    expect(r.stdout.trim().split('\n')).toEqual([`${path}: 3 lines, 3 valid events, 0 bad lines`, 'published 3/3: 3 stored, 0 already in the stream, 0 went through the resend buffer']);
    const progress = r.stderr.split('\n').filter((l) => l.includes('"replay progress"')).map((l) => JSON.parse(l) as { done: number; total: number });
    expect(progress.at(-1)).toMatchObject({ done: 3, total: 3 });
  });

  it('with live traffic, the old sample day is dead-lettered as too_late as warned; shifted with --shift-to it is applied, idempotently', { timeout: 120_000 }, async () => {
    const env = await setup();
    const est = createEstimator({ nc: env.nc, redis: env.redis, catalogue, prefix: env.prefix, logger, pseudonymKey: KEY, consumer: { ackWaitMs: 1000, maxDeliver: 5 } });
    cleanups.push(() => est.stop());
    await est.start();
    // a live event of the crossing (e.g. from a running simulator): the store's retention is measured from it
    await jetstream(env.nc).publish(subjectForEvent(env.s, lanes('live-1', Date.now() - 60_000)), JSON.stringify(lanes('live-1', Date.now() - 60_000)), { msgID: 'live-1' });
    await until('the live event applied', async () => est.stats().applied === 1);
    const dataDir = tempDir('kezek-replay-cli-data');
    const run = (...args: string[]) => replay([SAMPLE, ...args], { KEZEK_PREFIX: env.prefix, DATA_DIR: dataDir });

    const unshifted = await run();
    expect(unshifted.code).toBe(0);
    expect(unshifted.stderr).toMatch(new RegExp(`warning: ${SAMPLE_EVENTS} of ${SAMPLE_EVENTS} events are older than`));
    await until('the old events dead-lettered', async () => est.stats().deadLettered === SAMPLE_EVENTS, 60_000);
    expect(est.stats().applied).toBe(1);

    const target = new Date(Math.floor((Date.now() - DAY) / 60_000) * 60_000).toISOString();
    const shifted = await run('--shift-to', target);
    expect(shifted.code, shifted.stderr).toBe(0);
    expect(shifted.stderr).not.toMatch(/warning/);
    const shiftMs = Date.parse(target) - Date.parse('2026-03-09T19:00:00.000Z');
    expect(shifted.stdout).toContain(`eventIds end in @${shiftMs} (resume with --shift-to ${target})`);
    expect(shifted.stdout).toContain(`published ${SAMPLE_EVENTS}/${SAMPLE_EVENTS}: ${SAMPLE_EVENTS} stored`);
    await until('the shifted events applied', async () => est.stats().applied === 1 + SAMPLE_EVENTS, 60_000);
    expect(est.stats().deadLettered).toBe(SAMPLE_EVENTS); // none more

    // the same shift again adds nothing; another shift is another set of events (no eventId conflict)
    const again = await run('--shift-to', target);
    expect(again.stdout).toContain(`0 stored, ${SAMPLE_EVENTS} already in the stream`);
    const other = await run('--shift-to', new Date(Date.parse(target) - HOUR).toISOString());
    expect(other.stdout).toContain(`${SAMPLE_EVENTS} stored, 0 already in the stream`);
    await until('the second shift applied', async () => est.stats().applied === 1 + 2 * SAMPLE_EVENTS, 60_000);
    expect(est.stats().deadLettered).toBe(SAMPLE_EVENTS);
    const info = await (await jetstreamManager(env.nc)).streams.info(subjects(env.prefix).eventsStream);
    expect(info.state.messages).toBe(1 + 3 * SAMPLE_EVENTS);
  });
});
