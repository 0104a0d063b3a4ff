/**
 * Replay of recorded contract events (NDJSON, one event per line) into JetStream through the buffered publisher.
 * Importable without side effects; services/replay/main.ts is the CLI around it.
 *
 * 1. readNdjsonEvents: streams the file, validates every line against the contract and the catalogue, and reports
 *    each bad line with its 1-based line number and the reasons (invalid JSON, schema issues, duplicate eventId in
 *    the file). Blank lines are ignored.
 * 2. sortByEventTime: stable sort by occurredAt (ties keep file order).
 * 3. replayEvents: publishes in event time, `speed` x faster than the recorded spacing, or as fast as acks allow
 *    ('max'). Event times are never rewritten. Re-running a replay adds nothing: msgID = eventId.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
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

export async function readNdjsonEvents(path: string, ctx: { catalogue: Catalogue; now?: number }): Promise<ReadResult> {
  const events: LineEvent[] = [];
  const bad: BadLine[] = [];
  const firstLineOf = new Map<string, number>();
  let lineNo = 0;
  let lines = 0;
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
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
  return { events, bad, lines };
}

export function sortByEventTime<T extends { event: KezekEvent }>(items: readonly T[]): T[] {
  return items
    .map((item, i) => ({ item, i, t: Date.parse(item.event.occurredAt) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.item);
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
      const dueUntil = t0 + (now() - wall0) * o.speed;
      if (times[i]! > dueUntil) {
        await sleep(Math.max(1, Math.min(1000, (times[i]! - dueUntil) / o.speed)));
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
