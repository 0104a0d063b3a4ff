/**
 * services/replay/replay.ts without servers: --shift-to parsing, shifted events and eventIds, the time checks that
 * predict the estimator's too_late / invalid_event dead letters, and gzip input.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { MAX_FUTURE_SKEW_MS, validateEvent, type KezekEvent } from '../../shared/events/index.ts';
import { STORE_DEFAULTS } from '../../shared/queue-store/store.ts';
import { checkEventTimes, counted, parseShiftTo, parseSpeed, readNdjsonEvents, shiftedEventId, shiftEvents } from '../../services/replay/replay.ts';
import { joinNegativeValues, parseArgsProblem } from '../../shared/cli-args.ts';
import { parseArgs } from 'node:util';
import { tempDir } from '../helpers/env.ts';

const catalogue = loadCatalogue();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 10, 23, 2, 25, 31, 123);

const lanes = (id: string, atMs: number): KezekEvent =>
  ({ eventId: id, type: 'lanes.changed', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date(atMs).toISOString(), lanesOpen: 2 }) as KezekEvent;

describe('parseShiftTo', () => {
  it('takes an instant with offset, now (rounded down to the minute) and now -/+ a duration', () => {
    expect(parseShiftTo('2026-11-22T06:00:00+05:00', NOW)).toBe(Date.UTC(2026, 10, 22, 1));
    expect(parseShiftTo('2026-11-22T01:00:00Z', NOW)).toBe(Date.UTC(2026, 10, 22, 1));
    expect(parseShiftTo('now', NOW)).toBe(Date.UTC(2026, 10, 23, 2, 25));
    expect(parseShiftTo('now', NOW + 20_000)).toBe(parseShiftTo('now', NOW)); // the same minute: the same shift
    expect(parseShiftTo('now-1d', NOW)).toBe(Date.UTC(2026, 10, 22, 2, 25));
    expect(parseShiftTo('now-90m', NOW)).toBe(Date.UTC(2026, 10, 23, 0, 55));
    expect(parseShiftTo('NOW+2h', NOW)).toBe(Date.UTC(2026, 10, 23, 4, 25));
  });

  it('refuses local times, words and instants before 2000 with the accepted forms', () => {
    for (const bad of ['2026-11-22T06:00:00', 'tomorrow', 'now-1w', '', '1999-12-31T00:00:00Z', 'now-30000d']) {
      expect(() => parseShiftTo(bad, NOW), bad).toThrow(/--shift-to must/);
    }
    expect(() => parseShiftTo('yesterday', NOW)).toThrow(/"now", or "now-<n>\(s\|m\|h\|d\)"/);
  });
});

describe('shiftEvents', () => {
  const t0 = Date.UTC(2026, 2, 9, 19);
  const events: KezekEvent[] = [
    lanes('a', t0),
    { eventId: 'st', type: 'crossing.status', crossingId: 'korday', occurredAt: new Date(t0 + HOUR).toISOString(), status: 'closed', until: new Date(t0 + 3 * HOUR).toISOString() } as KezekEvent,
    lanes('b', t0 + 2 * HOUR),
  ];

  it('moves occurredAt and until by one constant, keeps order and spacing, and suffixes the eventIds with the shift', () => {
    const shift = Date.UTC(2026, 10, 22, 2) - t0;
    const out = shiftEvents(events, shift);
    expect(out.map((e) => e.eventId)).toEqual([`a@${shift}`, `st@${shift}`, `b@${shift}`]);
    expect(out.map((e) => Date.parse(e.occurredAt) - Date.parse(events[0]!.occurredAt))).toEqual(events.map((e) => Date.parse(e.occurredAt) - t0 + shift));
    expect(out[0]!.occurredAt).toBe('2026-11-22T02:00:00.000Z');
    expect((out[1] as { until?: string }).until).toBe('2026-11-22T05:00:00.000Z');
    for (const ev of out) expect(validateEvent(ev, { catalogue, now: Date.UTC(2026, 10, 22, 6) }).ok).toBe(true);
    expect(events[0]!.eventId).toBe('a'); // the input is not touched
    // deterministic: the same shift gives the same ids; another shift other ids
    expect(shiftEvents(events, shift).map((e) => e.eventId)).toEqual(out.map((e) => e.eventId));
    expect(shiftEvents(events, shift + 60_000).map((e) => e.eventId)).not.toContain(out[0]!.eventId);
    // zero shift: same times, same events, same ids
    expect(shiftEvents(events, 0)).toEqual(events);
  });

  it('keeps shifted eventIds within the contract\'s 128 characters, distinct and deterministic', () => {
    const long1 = `${'x'.repeat(120)}-1`;
    const long2 = `${'x'.repeat(120)}-2`;
    const a = shiftedEventId(long1, -22_318_200_000);
    const b = shiftedEventId(long2, -22_318_200_000);
    expect(a.length).toBeLessThanOrEqual(128);
    expect(a).toMatch(/@-22318200000$/);
    expect(a).not.toBe(b);
    expect(shiftedEventId(long1, -22_318_200_000)).toBe(a);
    expect(shiftedEventId('short', 5)).toBe('short@5');
  });
});

describe('checkEventTimes', () => {
  const opts = { nowMs: NOW, retentionMs: STORE_DEFAULTS.retentionMs, maxFutureSkewMs: MAX_FUTURE_SKEW_MS };

  it('counts events older than now - retention (too_late) with the oldest time, at speed max', () => {
    const events = [lanes('old1', NOW - 9 * DAY), lanes('old2', NOW - 8 * DAY), lanes('ok', NOW - 6 * DAY), lanes('new', NOW)];
    expect(checkEventTimes(events, { ...opts, speed: 'max' })).toEqual({ tooOld: 2, oldestMs: NOW - 9 * DAY, cutoffMs: NOW - 7 * DAY, tooNew: 0 });
  });

  it('judges each event when it will be published: a paced replay from now is fine, the same file at speed max is in the future', () => {
    const events = [0, HOUR, 12 * HOUR, 23 * HOUR].map((dt, i) => lanes(`e${i}`, NOW + dt));
    expect(checkEventTimes(events, { ...opts, speed: 1 })).toMatchObject({ tooOld: 0, tooNew: 0 });
    expect(checkEventTimes(events, { ...opts, speed: 'max' })).toMatchObject({ tooOld: 0, tooNew: 3, newestMs: NOW + 23 * HOUR });
    expect(checkEventTimes(events, { ...opts, speed: 60 })).toMatchObject({ tooNew: 3 });
    // a file ending just before now, replayed at once: nothing to warn about
    const lastDay = [0, HOUR, 23 * HOUR].map((dt, i) => lanes(`d${i}`, NOW - DAY + dt));
    expect(checkEventTimes(lastDay, { ...opts, speed: 'max' })).toMatchObject({ tooOld: 0, tooNew: 0 });
    expect(checkEventTimes([], { ...opts, speed: 'max' })).toMatchObject({ tooOld: 0, tooNew: 0 });
  });
});

describe('checkEventTimes of a paced replay that holds events until their time (as main.ts runs every paced replay)', () => {
  const opts = { nowMs: NOW, retentionMs: STORE_DEFAULTS.retentionMs, maxFutureSkewMs: MAX_FUTURE_SKEW_MS, holdUntilEventTime: true };
  // a day of events, one an hour, shifted to start at `start` (as --shift-to does with the sample day)
  const day = (start: number) => Array.from({ length: 24 }, (_, h) => lanes(`h${h}`, start + h * HOUR));

  it('flags no event as in the future at any speed: none is published before its event time (--shift-to now --speed 2, now-2h --speed 60)', () => {
    for (const speed of [1, 2, 60, 1000]) {
      expect(checkEventTimes(day(NOW), { ...opts, speed }), `now, speed ${speed}`).toMatchObject({ tooOld: 0, tooNew: 0 });
      expect(checkEventTimes(day(NOW - 2 * HOUR), { ...opts, speed }), `now-2h, speed ${speed}`).toMatchObject({ tooOld: 0, tooNew: 0 });
      expect(checkEventTimes(day(NOW + 30 * DAY), { ...opts, speed }), `30 days ahead, speed ${speed}`).toMatchObject({ tooNew: 0 });
    }
    // without the hold the same pacing would run ahead of the clock (what the check used to assume)
    expect(checkEventTimes(day(NOW), { ...opts, holdUntilEventTime: false, speed: 2 })).toMatchObject({ tooNew: 23 });
  });

  it('still counts events too old when published, and ignores the hold at speed max (replayEvents does not hold there)', () => {
    // 8 days back at speed 1: each is published a day past the retention (the hold never delays a past event)
    expect(checkEventTimes(day(NOW - 8 * DAY), { ...opts, speed: 1 })).toMatchObject({ tooOld: 24, oldestMs: NOW - 8 * DAY, tooNew: 0 });
    // 6 days back at speed 0.1: the event of hour h is published 10 h later, 6 days + 9h old: too old from h = 3
    expect(checkEventTimes(day(NOW - 6 * DAY), { ...opts, speed: 0.1 })).toMatchObject({ tooOld: 21, oldestMs: NOW - 6 * DAY + 3 * HOUR });
    expect(checkEventTimes(day(NOW), { ...opts, speed: 'max' })).toMatchObject({ tooNew: 23, newestMs: NOW + 23 * HOUR });
  });
});

describe('parseSpeed and wording', () => {
  it('takes "max" and positive decimal numbers only, naming --speed otherwise', () => {
    expect(parseSpeed('max')).toBe('max');
    expect(parseSpeed('60')).toBe(60);
    expect(parseSpeed('0.5')).toBe(0.5);
    for (const bad of ['-1', '0', '0.0', '1e3', '0x10', 'Infinity', '1_000', '.5', '5.', '', 'fast', '60x', '+2']) {
      expect(() => parseSpeed(bad), bad).toThrow(/^--speed must be "max" or a positive decimal number such as 60 or 0\.5 \(got ".*"\)$/);
    }
  });

  it('counts with singular and plural nouns', () => {
    expect(counted(1, 'line')).toBe('1 line');
    expect(counted(0, 'bad line')).toBe('0 bad lines');
    expect(counted(2, 'valid event')).toBe('2 valid events');
  });
});

describe('command-line messages (cli-args.ts, used by replay, make-sample and dlq)', () => {
  const options = { speed: { type: 'string' }, 'dry-run': { type: 'boolean' } } as const;
  const problem = (argv: string[], positional?: string) => {
    try {
      parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true });
      return undefined;
    } catch (err) {
      return parseArgsProblem(err, positional);
    }
  };

  it('passes a negative number to the option (its own check then says what it must be) instead of "ambiguous"', () => {
    expect(joinNegativeValues(['f', '--speed', '-1', '--dry-run'], options)).toEqual(['f', '--speed=-1', '--dry-run']);
    expect(joinNegativeValues(['--speed', '-.5'], options)).toEqual(['--speed=-.5']);
    expect(joinNegativeValues(['--dry-run', '-1'], options)).toEqual(['--dry-run', '-1']); // a flag takes no value
    expect(joinNegativeValues(['--', '--speed', '-1'], options)).toEqual(['--', '--speed', '-1']); // positionals
    expect(problem(['--speed', '-1'])).toBeUndefined();
  });

  it('names the option in one line, with balanced quotes', () => {
    expect(problem(['--bogus'], 'file')).toBe('unknown option --bogus (a file whose name starts with "-" goes after "--", as in: -- --bogus)');
    expect(problem(['-x'])).toBe('unknown option -x');
    expect(problem(['--speed'])).toBe('--speed needs a value');
    expect(problem(['--speed', '--dry-run'])).toBe('--speed needs a value, but the next argument is an option (a value starting with "-" is written --speed=<value>)');
    expect(problem(['--dry-run=yes'])).toBe('--dry-run takes no value');
  });
});

describe('readNdjsonEvents input formats', () => {
  const lines = [lanes('g1', NOW - HOUR), lanes('g2', NOW - MIN)].map((e) => JSON.stringify(e)).join('\n') + '\n';

  it('reads a gzip-compressed file (by content, whatever its name) like the plain one', async () => {
    const dir = tempDir('kezek-replay-gz');
    writeFileSync(join(dir, 'a.ndjson.gz'), gzipSync(lines));
    writeFileSync(join(dir, 'b.ndjson'), gzipSync(lines));
    for (const f of ['a.ndjson.gz', 'b.ndjson']) {
      const read = await readNdjsonEvents(join(dir, f), { catalogue });
      expect(read.bad, f).toEqual([]);
      expect(read.events.map((e) => e.event.eventId)).toEqual(['g1', 'g2']);
    }
  });

  it('standard input ("-"): plain or gzip, told apart even when the first chunk holds one byte; a cut gzip stream is an error', async () => {
    const gz = gzipSync(lines);
    for (const chunks of [[Buffer.from(lines)], [Buffer.from(lines.slice(0, 1)), Buffer.from(lines.slice(1))], [gz], [gz.subarray(0, 1), gz.subarray(1)]]) {
      const read = await readNdjsonEvents('-', { catalogue, stdin: Readable.from(chunks) });
      expect(read.bad).toEqual([]);
      expect(read.events.map((e) => e.event.eventId)).toEqual(['g1', 'g2']);
    }
    expect((await readNdjsonEvents('-', { catalogue, stdin: Readable.from([]) })).lines).toBe(0);
    const long = gzipSync(lines.repeat(50));
    await expect(readNdjsonEvents('-', { catalogue, stdin: Readable.from([long.subarray(0, long.length - 20)]) })).rejects.toThrow(/unexpected end of file/);
  });

  it('a truncated gzip file is an error, not a list of bad lines or a silent partial read', async () => {
    const dir = tempDir('kezek-replay-gz');
    const gz = gzipSync(lines.repeat(50).replace(/g(\d)/g, (_m, d) => `g${d}-${Math.random()}`));
    writeFileSync(join(dir, 'cut.ndjson.gz'), gz.subarray(0, gz.length - 20));
    await expect(readNdjsonEvents(join(dir, 'cut.ndjson.gz'), { catalogue })).rejects.toThrow(/unexpected end of file/);
  });

  it('now: Infinity skips the future-skew rule (a file about to be shifted); the default applies it', async () => {
    const dir = tempDir('kezek-replay-future');
    writeFileSync(join(dir, 'f.ndjson'), JSON.stringify(lanes('f1', Date.now() + 30 * DAY)) + '\n');
    expect((await readNdjsonEvents(join(dir, 'f.ndjson'), { catalogue })).bad[0]!.reasons.join()).toMatch(/in the future/);
    expect((await readNdjsonEvents(join(dir, 'f.ndjson'), { catalogue, now: Infinity })).events).toHaveLength(1);
  });
});
