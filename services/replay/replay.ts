/**
 * Replay of recorded contract events (NDJSON, one event per line) into JetStream through the buffered publisher.
 * Importable without side effects; services/replay/main.ts is the CLI around it.
 *
 * 1. readNdjsonEvents: streams the file, validates every line against the contract and the catalogue, and reports
 *    each bad line with its 1-based line number and the reasons (invalid JSON, schema issues, duplicate eventId in
 *    the file). Blank lines are ignored.
 * 2. sortByEventTime: stable sort by occurredAt (ties keep file order).
 * 3. shiftEvents (optional, --shift-to): moves every event by one constant (occurredAt, and `until` of a
 *    crossing.status) and gives it the eventId `<eventId>@<shift ms>`, so a shifted replay never collides with a
 *    replay of the same file at other times, and the same shift replayed again is a no-op.
 * 4. checkEventTimes: counts the events the estimator will dead-letter for their time: older than the queue store's
 *    retention (too_late) or too far in the future (invalid_event) by the time they are published.
 * 5. replayEvents: publishes in event time, `speed` x faster than the recorded spacing, or as fast as acks allow
 *    ('max'). Re-running a replay adds nothing: msgID = eventId.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable, type Transform, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import { validateEvent, type KezekEvent } from '../../shared/events/index.ts';
import type { EventPublisher, PublishOutcome } from '../../shared/producer/publisher.ts';

export interface LineEvent {
  line: number;
  event: KezekEvent;
}
export interface BadLine {
  line: number;
  reasons: string[];
}
export interface ReadResult {
  events: LineEvent[];
  bad: BadLine[];
  /** Non-blank lines read. */
  lines: number;
}

/** The <file> that means standard input (`zcat day.ndjson.gz | npm run replay -- -`). */
export const STDIN = '-';

/**
 * A byte stream as text, gunzipped when it starts with gzip's magic bytes (1f 8b), whatever its name: decided on the
 * first two bytes, so a pipe works as well as a file. Errors of the source or of the gunzip end the text with them.
 */
export function textOf(source: Readable): Readable {
  const out = new PassThrough();
  let head = Buffer.alloc(0);
  const start = (ended: boolean) => {
    source.off('data', onData);
    source.off('end', onEnd);
    source.pause();
    const gzip = head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    const target: Writable = gzip ? createGunzip() : out;
    if (gzip) (target as Transform).on('error', (err) => out.destroy(err)).pipe(out);
    target.write(head);
    if (ended) target.end();
    else source.pipe(target);
  };
  const onData = (chunk: Buffer | string) => {
    head = Buffer.concat([head, typeof chunk === 'string' ? Buffer.from(chunk) : chunk]);
    if (head.length >= 2) start(false);
  };
  const onEnd = () => start(true);
  source.on('data', onData).once('end', onEnd).once('error', (err) => out.destroy(err));
  return out.setEncoding('utf8');
}

/** The text of a file (`-`: standard input), plain or gzip-compressed. */
function openText(path: string, stdin: Readable): Readable {
  return textOf(path === STDIN ? stdin : createReadStream(path));
}

/**
 * Reads and validates an NDJSON file (plain or gzip-compressed; `-`: standard input, or `ctx.stdin` in tests).
 * `now` is the clock of the future-skew rule of validateEvent (default: the wall clock); Infinity skips that rule
 * (a file about to be shifted in time).
 */
export async function readNdjsonEvents(path: string, ctx: { catalogue: Catalogue; now?: number; stdin?: Readable }): Promise<ReadResult> {
  const events: LineEvent[] = [];
  const bad: BadLine[] = [];
  const firstLineOf = new Map<string, number>();
  let lineNo = 0;
  let lines = 0;
  const input = openText(path, ctx.stdin ?? process.stdin);
  const rl = createInterface({ input, crlfDelay: Infinity });
  // readline does not pass on the errors of its input (a truncated gzip file, a read error): end the loop with them
  let inputError: Error | undefined;
  input.on('error', (err) => {
    inputError = err;
    rl.close();
  });
  for await (const raw of rl) {
    lineNo++;
    const text = raw.trim();
    if (text === '') continue;
    lines++;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      bad.push({ line: lineNo, reasons: [`invalid JSON: ${(err as Error).message}`] });
      continue;
    }
    const res = validateEvent(value, ctx);
    if (!res.ok) {
      bad.push({ line: lineNo, reasons: res.issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)) });
      continue;
    }
    const seen = firstLineOf.get(res.event.eventId);
    if (seen !== undefined) {
      bad.push({ line: lineNo, reasons: [`duplicate eventId "${res.event.eventId}" (first on line ${seen})`] });
      continue;
    }
    firstLineOf.set(res.event.eventId, lineNo);
    events.push({ line: lineNo, event: res.event });
  }
  if (inputError) throw inputError;
  return { events, bad, lines };
}

export function sortByEventTime<T extends { event: KezekEvent }>(items: readonly T[]): T[] {
  return items
    .map((item, i) => ({ item, i, t: Date.parse(item.event.occurredAt) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.item);
}

const MINUTE_MS = 60_000;
const UNIT_MS: Record<string, number> = { s: 1000, m: MINUTE_MS, h: 60 * MINUTE_MS, d: 24 * 60 * MINUTE_MS };

/**
 * The instant of a --shift-to value: an ISO-8601 instant with offset or Z, `now`, or `now-<n><s|m|h|d>` (also `+`).
 * `now` is the wall clock rounded down to the minute, so the same command re-run within that minute gives the same
 * shift (and eventIds). Throws a RangeError with the reason on anything else.
 */
export function parseShiftTo(value: string, nowMs: number): number {
  const v = value.trim();
  const rel = /^now(?:\s*([+-])\s*(\d+(?:\.\d+)?)\s*([smhd]))?$/i.exec(v);
  let t: number;
  if (rel) {
    t = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
    if (rel[1]) t += (rel[1] === '-' ? -1 : 1) * Math.round(Number(rel[2]) * UNIT_MS[rel[3]!.toLowerCase()]!);
  } else {
    t = Date.parse(v);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(v) || !/(Z|[+-]\d{2}:?\d{2})$/i.test(v) || !Number.isFinite(t)) {
      throw new RangeError(`--shift-to must be an ISO-8601 instant with offset or Z (2026-11-22T06:00:00+05:00), "now", or "now-<n>(s|m|h|d)" such as now-1d (got ${JSON.stringify(value)})`);
    }
  }
  if (!(t >= Date.UTC(2000, 0, 1))) throw new RangeError(`--shift-to must not be before 2000-01-01 (got ${JSON.stringify(value)})`);
  return t;
}

/**
 * The --speed value: `max`, or a positive decimal number (digits with an optional fraction, as the environment
 * variables take them: no exponent, sign, hex or Infinity). Throws a RangeError naming the option on anything else.
 */
export function parseSpeed(value: string): number | 'max' {
  const v = value.trim();
  if (v === 'max') return 'max';
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`--speed must be "max" or a positive decimal number such as 60 or 0.5 (got ${JSON.stringify(value)})`);
  }
  return n;
}

/** `1 line`, `2 lines`: a count with its noun (plural `nouns` when it is not regular). */
export const counted = (n: number, noun: string, nouns = `${noun}s`): string => `${n} ${n === 1 ? noun : nouns}`;

const MAX_EVENT_ID = 128;

/**
 * The eventId of an event shifted by shiftMs: `<eventId>@<shiftMs>` (unchanged for a zero shift: same times, same
 * event). An id that would exceed the contract's 128 characters keeps its start and a hash of the whole id instead.
 */
export function shiftedEventId(eventId: string, shiftMs: number): string {
  if (shiftMs === 0) return eventId;
  const suffix = `@${shiftMs}`;
  const id = `${eventId}${suffix}`;
  if (id.length <= MAX_EVENT_ID) return id;
  const hash = createHash('sha256').update(eventId).digest('hex').slice(0, 12);
  return `${eventId.slice(0, MAX_EVENT_ID - suffix.length - hash.length - 1)}~${hash}${suffix}`;
}

const shiftInstant = (iso: string, shiftMs: number) => new Date(Date.parse(iso) + shiftMs).toISOString();

/** Every event moved by shiftMs (occurredAt, and `until` of a crossing.status) with its shifted eventId. Order is kept. */
export function shiftEvents(events: readonly KezekEvent[], shiftMs: number): KezekEvent[] {
  if (shiftMs === 0) return [...events];
  return events.map((ev) => {
    const out = { ...ev, eventId: shiftedEventId(ev.eventId, shiftMs), occurredAt: shiftInstant(ev.occurredAt, shiftMs) };
    if (out.type === 'crossing.status' && out.until !== undefined) out.until = shiftInstant(out.until, shiftMs);
    return out;
  });
}

export interface TimeCheck {
  /** Events older than the retention when published: the estimator dead-letters them as too_late. */
  tooOld: number;
  oldestMs?: number;
  /** now - retention: the cutoff of the first published event. */
  cutoffMs: number;
  /** Events more than the future skew ahead when published: the estimator dead-letters them as invalid_event. */
  tooNew: number;
  newestMs?: number;
}

/**
 * Which events the estimator will drop for their time, judged at the moment each is published: now for speed
 * 'max', now + (recorded offset from the first event) / speed when paced. With `holdUntilEventTime` (what main.ts
 * passes to replayEvents for every paced replay) an event is also not published before the clock reaches its event
 * time, so none arrives in the future, however high the speed. `events` sorted by event time.
 */
export function checkEventTimes(
  events: readonly KezekEvent[],
  o: { nowMs: number; retentionMs: number; maxFutureSkewMs: number; speed: number | 'max'; holdUntilEventTime?: boolean },
): TimeCheck {
  const out: TimeCheck = { tooOld: 0, tooNew: 0, cutoffMs: o.nowMs - o.retentionMs };
  if (events.length === 0) return out;
  const t0 = Date.parse(events[0]!.occurredAt);
  for (const ev of events) {
    const t = Date.parse(ev.occurredAt);
    const paced = o.speed === 'max' ? o.nowMs : o.nowMs + (t - t0) / o.speed;
    // replayEvents holds only paced replays: at speed max every event goes out at once
    const publishedAt = o.holdUntilEventTime && o.speed !== 'max' ? Math.max(paced, t) : paced;
    if (t < publishedAt - o.retentionMs) {
      out.tooOld++;
      out.oldestMs = Math.min(out.oldestMs ?? t, t);
    } else if (t - publishedAt > o.maxFutureSkewMs) {
      out.tooNew++;
      out.newestMs = Math.max(out.newestMs ?? t, t);
    }
  }
  return out;
}

export interface ReplayProgress {
  done: number;
  total: number;
  stored: number;
  duplicates: number;
  buffered: number;
  /** Event time of the last published event. */
  eventTimeMs?: number;
}

export interface ReplayOptions {
  publisher: Pick<EventPublisher, 'publishMany'>;
  /** Sorted by event time (see sortByEventTime). */
  events: readonly KezekEvent[];
  /** How many times faster than recorded; 'max' = as fast as acks allow. */
  speed: number | 'max';
  onProgress?: (p: ReplayProgress) => void;
  /** Injectable clock and sleep (tests). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Checked between batches: return true to stop early. */
  shouldStop?: () => boolean;
  /** Events per publishMany call (default 500). */
  batchSize?: number;
  /**
   * Paced replays: never publish an event before this clock reaches its event time. The estimator refuses events
   * more than 5 minutes ahead (dead-lettered, and their eventIds then count as already stored); a resumed
   * real-time replay (--from, --shift-to now, --speed 1) paces from its first resumed event and would run ahead of
   * the clock without this.
   */
  holdUntilEventTime?: () => number;
}

export interface ReplaySummary extends ReplayProgress {
  stoppedEarly: boolean;
}

export async function replayEvents(o: ReplayOptions): Promise<ReplaySummary> {
  const now = o.now ?? Date.now;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const batchSize = o.batchSize ?? 500;
  const total = o.events.length;
  const p: ReplayProgress = { done: 0, total, stored: 0, duplicates: 0, buffered: 0 };
  const count = (outcomes: PublishOutcome[]) => {
    for (const x of outcomes) {
      if (x === 'stored') p.stored++;
      else if (x === 'duplicate') p.duplicates++;
      else p.buffered++;
    }
  };
  if (total === 0) return { ...p, stoppedEarly: false };
  const times = o.events.map((e) => Date.parse(e.occurredAt));
  const t0 = times[0]!;
  const wall0 = now();
  let i = 0;
  while (i < total) {
    if (o.shouldStop?.()) return { ...p, stoppedEarly: true };
    let end: number;
    if (o.speed === 'max') {
      end = Math.min(total, i + batchSize);
    } else {
      // Everything due by now (recorded offset / speed), at least the next event once its time has come.
      const byPace = t0 + (now() - wall0) * o.speed;
      const dueUntil = o.holdUntilEventTime ? Math.min(byPace, o.holdUntilEventTime()) : byPace;
      if (times[i]! > dueUntil) {
        const wait = times[i]! > byPace ? (times[i]! - byPace) / o.speed : times[i]! - dueUntil;
        await sleep(Math.max(1, Math.min(1000, wait)));
        continue;
      }
      end = i + 1;
      while (end < total && end - i < batchSize && times[end]! <= dueUntil) end++;
    }
    count(await o.publisher.publishMany(o.events.slice(i, end)));
    p.done = end;
    p.eventTimeMs = times[end - 1];
    i = end;
    o.onProgress?.({ ...p });
  }
  return { ...p, stoppedEarly: false };
}
