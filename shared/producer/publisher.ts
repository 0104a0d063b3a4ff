/**
 * The buffered event publisher every producer uses (simulator, replay, adapters at the border).
 *
 * - Pseudonymises vehicleRef (shared/privacy.ts), then publishes to JetStream on
 *   `subjects(prefix).eventsFor(crossingId, direction)` with `msgID = eventId`, so the broker stores a re-sent
 *   event once (duplicate window, shared/nats.ts). `publish()` resolves once JetStream acked, or once the event is
 *   safely in the buffer.
 * - When NATS is unreachable or JetStream does not ack in time, the event goes into a bounded FIFO buffer: an
 *   append-only NDJSON journal in `bufferDir` (survives a producer restart) or memory. While anything is buffered,
 *   new events queue behind it, so a sequential caller's events reach the stream in order. A background loop
 *   resends the buffer, oldest first, with the SAME eventIds once NATS is back. When the buffer is full, publish()
 *   rejects with code 'BUFFER_FULL': nothing is dropped silently.
 * - Only already-pseudonymised events are written to disk.
 *
 * Journal format (one JSON object per line): `{"e": <event>}` when an event is buffered, `{"a": [eventId, ...]}`
 * when buffered events were acked. Loading replays the journal; it is truncated when the buffer empties and
 * compacted (rewritten via rename) when acknowledgements pile up. One bufferDir per producer process.
 *
 * Limitation: if JetStream stored an event but its ack was lost, the resend is recognised as a duplicate only
 * within the stream's duplicate window (2 h); the consumer's own event-id check covers the rest.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidArgumentError, InvalidSubjectError } from '@nats-io/transport-node';
import { jetstream, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import type { Logger } from '../logger.ts';
import type { KezekEvent } from '../events/v1.ts';
import { subjects } from '../events/subjects.ts';
import { pseudonymise } from '../privacy.ts';

export type PublisherErrorCode = 'BUFFER_FULL' | 'CLOSED' | 'FLUSH_TIMEOUT' | 'PUBLISH_REJECTED';

export class PublisherError extends Error {
  constructor(
    readonly code: PublisherErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'PublisherError';
  }
}

/** stored: acked as new; duplicate: acked, the stream already had this eventId; buffered: queued for resend. */
export type PublishOutcome = 'stored' | 'duplicate' | 'buffered';

export interface PublisherStats {
  /** Events acked as new by JetStream (directly or on resend). */
  stored: number;
  /** Events JetStream recognised as duplicates of a stored eventId. */
  duplicates: number;
  /** Events waiting in the buffer now. */
  buffered: number;
  /** Events that went through the buffer since start (including reloaded ones). */
  bufferedTotal: number;
  /** Buffered events acked after a resend. */
  resent: number;
  /** Failed publish attempts (timeouts, no connection). */
  failedAttempts: number;
  /** Whether the buffer lives on disk. */
  durable: boolean;
}

export interface EventPublisherOptions {
  nc: NatsConnection;
  prefix: string;
  pseudonymKey: string;
  /** Directory for the durable buffer journal; omit for an in-memory buffer. */
  bufferDir?: string;
  /** Maximum buffered events (default 100,000). */
  maxBuffered?: number;
  logger: Logger;
  /** How long to wait for a JetStream ack (default 5,000 ms). */
  ackTimeoutMs?: number;
  /** First delay between resend attempts while NATS is down; doubles up to 5 s (default 250 ms). */
  retryDelayMs?: number;
  /** Concurrent publishes while resending a healthy backlog (default 64). */
  resendWindow?: number;
  /** Interval of progress logs while buffering (default 10 s). */
  progressEveryMs?: number;
}

export interface EventPublisher {
  publish(ev: KezekEvent): Promise<PublishOutcome>;
  /** Publishes in order with a bounded number of publishes in flight; returns one outcome per event. */
  publishMany(evs: readonly KezekEvent[]): Promise<PublishOutcome[]>;
  /** Resolves when nothing is buffered or in flight; rejects with 'FLUSH_TIMEOUT' after timeoutMs (default 30 s). */
  flush(timeoutMs?: number): Promise<void>;
  stats(): PublisherStats;
  /** Stops resending and waits for in-flight publishes. The disk buffer is kept for the next start. Idempotent. */
  close(): Promise<void>;
}

const JOURNAL_FILE = 'publisher-buffer.ndjson';
const MANY_WINDOW = 256;

/** Errors that no resend can fix: the event itself is unpublishable. */
function isPermanent(err: unknown): boolean {
  if (err instanceof InvalidSubjectError || err instanceof InvalidArgumentError) return true;
  if (err instanceof JetStreamApiError) return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 404;
  return /maximum payload/i.test((err as Error)?.message ?? '');
}

/** The event with its vehicleRef (when it has one) replaced by the keyed pseudonym; idempotent. */
export function pseudonymised(ev: KezekEvent, key: string): KezekEvent {
  return 'vehicleRef' in ev && ev.vehicleRef !== undefined ? { ...ev, vehicleRef: pseudonymise(ev.vehicleRef, key) } : ev;
}

const errMessage = (err: unknown): string => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

interface Journal {
  load(): KezekEvent[];
  append(ev: KezekEvent): void;
  /** `remaining` is called only when the journal is compacted. */
  acked(ids: string[], remainingCount: number, remaining: () => readonly KezekEvent[]): void;
}

function createJournal(dir: string, prefix: string): Journal {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${prefix}.${JOURNAL_FILE}`);
  let ackLines = 0;
  const rewrite = (events: readonly KezekEvent[]) => {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, events.map((e) => `${JSON.stringify({ e })}\n`).join(''));
    renameSync(tmp, path);
    ackLines = 0;
  };
  return {
    load() {
      if (!existsSync(path)) return [];
      const pending = new Map<string, KezekEvent>();
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          const rec = JSON.parse(line) as { e?: KezekEvent; a?: string[] };
          if (rec.e) pending.set(rec.e.eventId, rec.e);
          for (const id of rec.a ?? []) pending.delete(id);
        } catch {
          // A torn last line after a crash: the event was never acknowledged to the caller as buffered.
        }
      }
      const events = [...pending.values()];
      rewrite(events);
      return events;
    },
    append(ev) {
      appendFileSync(path, `${JSON.stringify({ e: ev })}\n`);
    },
    acked(ids, remainingCount, remaining) {
      if (remainingCount === 0) {
        writeFileSync(path, '');
        ackLines = 0;
      } else if (ackLines > 1000) {
        rewrite(remaining());
      } else {
        appendFileSync(path, `${JSON.stringify({ a: ids })}\n`);
        ackLines++;
      }
    },
  };
}

export function createEventPublisher(opts: EventPublisherOptions): EventPublisher {
  const log = opts.logger.child({ component: 'publisher' });
  const s = subjects(opts.prefix);
  const js: JetStreamClient = jetstream(opts.nc);
  const maxBuffered = opts.maxBuffered ?? 100_000;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 5000;
  const retryBase = opts.retryDelayMs ?? 250;
  const resendWindow = opts.resendWindow ?? 64;
  const progressEveryMs = opts.progressEveryMs ?? 10_000;
  const journal = opts.bufferDir ? createJournal(opts.bufferDir, opts.prefix) : undefined;

  let buffer: KezekEvent[] = journal ? journal.load() : [];
  let head = 0;
  const bufferedCount = () => buffer.length - head;
  const stats = { stored: 0, duplicates: 0, bufferedTotal: buffer.length, resent: 0, failedAttempts: 0 };
  let closed = false;
  let inFlight = 0;
  let resending: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  let lastProgressLog = 0;
  const idleWaiters: (() => void)[] = [];

  const notifyIdle = () => {
    if (bufferedCount() === 0 && inFlight === 0) for (const w of idleWaiters.splice(0)) w();
  };

  async function send(ev: KezekEvent): Promise<'stored' | 'duplicate'> {
    const ack = await js.publish(s.eventsFor(ev.crossingId, ev.direction), JSON.stringify(ev), { msgID: ev.eventId, timeout: ackTimeoutMs });
    if (ack.duplicate) {
      stats.duplicates++;
      return 'duplicate';
    }
    stats.stored++;
    return 'stored';
  }

  function enqueue(ev: KezekEvent): void {
    if (bufferedCount() >= maxBuffered) {
      throw new PublisherError('BUFFER_FULL', `publisher buffer is full (${maxBuffered} events waiting for NATS); event ${ev.eventId} was not accepted`);
    }
    journal?.append(ev);
    buffer.push(ev);
    stats.bufferedTotal++;
    startResending();
  }

  function startResending(): void {
    if (resending || closed) return;
    resending = resendLoop()
      .catch((err: unknown) => log.error({ err }, 'publisher resend loop failed'))
      .finally(() => {
        resending = undefined;
        if (bufferedCount() > 0 && !closed) startResending();
      });
  }

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        clearTimeout(t);
        wake = undefined;
        resolve();
      };
    });

  async function resendLoop(): Promise<void> {
    let delay = retryBase;
    let healthy = false;
    const backlogAtStart = bufferedCount();
    log.warn({ buffered: backlogAtStart, durable: Boolean(journal) }, 'publishing to NATS failed or backlog present: buffering and resending');
    let resentHere = 0;
    while (!closed && bufferedCount() > 0) {
      // While NATS is failing, probe with one event; once it acks, resend a window at a time.
      const batch = buffer.slice(head, head + (healthy ? resendWindow : 1));
      const results = await Promise.allSettled(batch.map((ev) => send(ev)));
      const ackedIds: string[] = [];
      const failed: KezekEvent[] = [];
      results.forEach((r, i) => {
        const ev = batch[i]!;
        if (r.status === 'fulfilled') ackedIds.push(ev.eventId);
        else if (isPermanent(r.reason)) {
          log.error({ err: r.reason, eventId: ev.eventId }, 'buffered event rejected permanently by NATS; dropping it from the buffer');
          ackedIds.push(ev.eventId);
        } else failed.push(ev);
      });
      // Keep failures, in order, at the head of the buffer.
      head += batch.length;
      if (failed.length) {
        head -= failed.length;
        for (let i = 0; i < failed.length; i++) buffer[head + i] = failed[i]!;
      }
      if (head > 10_000 && head * 2 > buffer.length) {
        buffer = buffer.slice(head);
        head = 0;
      }
      if (ackedIds.length) {
        stats.resent += ackedIds.length;
        resentHere += ackedIds.length;
        journal?.acked(ackedIds, bufferedCount(), () => buffer.slice(head));
      }
      if (failed.length) {
        stats.failedAttempts += failed.length;
        healthy = false;
        const now = Date.now();
        if (now - lastProgressLog >= progressEveryMs) {
          lastProgressLog = now;
          const firstErr = results.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
          log.warn({ buffered: bufferedCount(), resent: stats.resent, error: errMessage(firstErr?.reason) }, 'NATS still unavailable; events buffered');
        }
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      } else {
        healthy = true;
        delay = retryBase;
        const now = Date.now();
        if (now - lastProgressLog >= progressEveryMs && bufferedCount() > 0) {
          lastProgressLog = now;
          log.info({ buffered: bufferedCount(), resent: stats.resent }, 'resending buffered events');
        }
      }
      notifyIdle();
    }
    if (bufferedCount() === 0) log.info({ resent: resentHere }, 'publisher buffer drained');
    notifyIdle();
  }

  async function publishOne(ev: KezekEvent): Promise<PublishOutcome> {
    if (closed) throw new PublisherError('CLOSED', 'publisher is closed');
    const safe = pseudonymised(ev, opts.pseudonymKey);
    if (bufferedCount() > 0) {
      enqueue(safe);
      return 'buffered';
    }
    inFlight++;
    try {
      return await send(safe);
    } catch (err) {
      if (isPermanent(err)) throw new PublisherError('PUBLISH_REJECTED', `NATS rejected event ${safe.eventId}: ${errMessage(err)}`, { cause: err });
      stats.failedAttempts++;
      enqueue(safe);
      return 'buffered';
    } finally {
      inFlight--;
      notifyIdle();
    }
  }

  if (bufferedCount() > 0) {
    log.info({ buffered: bufferedCount() }, 'reloaded buffered events from disk');
    startResending();
  }

  return {
    publish: publishOne,
    async publishMany(evs) {
      const outcomes: PublishOutcome[] = new Array(evs.length);
      let next = 0;
      let firstError: unknown;
      const worker = async () => {
        while (next < evs.length && firstError === undefined) {
          const i = next++;
          try {
            outcomes[i] = await publishOne(evs[i]!);
          } catch (err) {
            firstError ??= err;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(MANY_WINDOW, evs.length) }, worker));
      if (firstError !== undefined) throw firstError;
      return outcomes;
    },
    flush(timeoutMs = 30_000) {
      if (bufferedCount() === 0 && inFlight === 0) return Promise.resolve();
      wake?.();
      return new Promise<void>((resolve, reject) => {
        const waiter = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          const i = idleWaiters.indexOf(waiter);
          if (i >= 0) idleWaiters.splice(i, 1);
          reject(new PublisherError('FLUSH_TIMEOUT', `flush timed out after ${timeoutMs} ms with ${bufferedCount()} events buffered and ${inFlight} in flight`));
        }, timeoutMs);
        idleWaiters.push(waiter);
      });
    },
    stats: () => ({ ...stats, buffered: bufferedCount(), durable: Boolean(journal) }),
    async close() {
      if (closed) return;
      closed = true;
      wake?.();
      await resending;
      const deadline = Date.now() + ackTimeoutMs + 1000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      if (bufferedCount() > 0) {
        if (journal) log.warn({ buffered: bufferedCount() }, 'publisher closed with buffered events; they are on disk and will be resent on next start');
        else log.error({ buffered: bufferedCount() }, 'publisher closed with buffered events in memory: they are lost (configure a bufferDir)');
      }
    },
  };
}
