/**
 * Background refresh of queue estimates, decoupled from consumption.
 *
 * Applying an event is cheap (one Lua call); recomputing an estimate is not (read the queue's window, run the
 * model). So consumption only marks queues as touched, and this loop recomputes them:
 * - a queue touched after a quiet spell is refreshed at once (low rates: the estimate follows each event);
 * - a busy queue is refreshed at most once per `minIntervalMs` (wall clock), with a trailing refresh, so under load
 *   refresh work is bounded by the number of queues, not the number of events;
 * - urgent changes (lanes, status, counts) skip the wait: an official's lane change shows at once.
 * One queue is never refreshed concurrently with itself. The estimate is always computed as of the queue's newest
 * event (event time), so WHEN a refresh runs changes how often estimates are published, never their values.
 */
import { queueKey } from '../../shared/estimates.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import type { Logger } from '../../shared/logger.ts';
import type { RefreshResult } from './publish.ts';

export interface RefresherOptions {
  refresh: (q: QueueRef) => Promise<RefreshResult>;
  minIntervalMs: number;
  concurrency?: number;
  logger: Logger;
  onResult?: (r: RefreshResult) => void;
}

export interface Refresher {
  enqueue(q: QueueRef, urgent?: boolean): void;
  /** Refreshes everything pending now (ignoring the interval) and resolves when idle. */
  drain(): Promise<void>;
  /** Queues waiting for a refresh or being refreshed. */
  pending(): number;
  close(): Promise<void>;
}

export function createRefresher(opts: RefresherOptions): Refresher {
  const concurrency = opts.concurrency ?? 4;
  const pending = new Map<string, { q: QueueRef; urgent: boolean }>();
  const lastRun = new Map<string, number>();
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let forceAll = false;
  let inFlight = 0;
  let closed = false;

  const isDue = (key: string, urgent: boolean, now: number) => forceAll || urgent || now - (lastRun.get(key) ?? -Infinity) >= opts.minIntervalMs;

  /** Takes at most `concurrency` queues at a time, urgent ones first, so an urgent change waits one batch at most. */
  async function loop(): Promise<void> {
    for (;;) {
      const now = Date.now();
      const urgent: [string, QueueRef][] = [];
      const due: [string, QueueRef][] = [];
      for (const [key, e] of pending) {
        if (e.urgent) {
          urgent.push([key, e.q]);
          if (urgent.length >= concurrency) break;
        } else if (due.length < concurrency && isDue(key, false, now)) due.push([key, e.q]);
      }
      const batch = [...urgent, ...due].slice(0, concurrency);
      if (batch.length === 0) return;
      for (const [key] of batch) pending.delete(key); // re-enqueued keys go to the back: round robin under load
      await Promise.all(
        batch.map(async ([key, q]) => {
          lastRun.set(key, Date.now());
          inFlight += 1;
          try {
            const result = await opts.refresh(q); // not inside `onResult?.(...)`: that would skip the call
            opts.onResult?.(result);
          } catch (err) {
            opts.logger.error({ err, queue: key }, 'refreshing an estimate failed');
          } finally {
            inFlight -= 1;
          }
        }),
      );
    }
  }

  function schedule(): void {
    if (timer || closed || pending.size === 0) return;
    const now = Date.now();
    let wait = Infinity;
    for (const key of pending.keys()) wait = Math.min(wait, (lastRun.get(key) ?? -Infinity) + opts.minIntervalMs - now);
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, Math.max(0, Math.min(wait, opts.minIntervalMs)));
    timer.unref();
  }

  function kick(): Promise<void> {
    running ??= loop().finally(() => {
      running = undefined;
      schedule();
    });
    return running;
  }

  return {
    enqueue(q, urgent = false) {
      if (closed) return;
      const key = queueKey(q);
      const prev = pending.get(key);
      pending.set(key, { q, urgent: urgent || (prev?.urgent ?? false) });
      if (!running) {
        const now = Date.now();
        if (isDue(key, urgent, now)) {
          if (timer) clearTimeout(timer);
          timer = undefined;
          void kick();
        } else schedule();
      }
    },
    async drain() {
      forceAll = true;
      try {
        while (running || pending.size > 0) await (running ?? kick());
      } finally {
        forceAll = false;
      }
    },
    pending: () => pending.size + inFlight,
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await this.drain();
      closed = true;
    },
  };
}
