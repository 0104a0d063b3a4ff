/**
 * Background refresh of queue estimates, decoupled from consumption.
 *
 * Applying an event is cheap (one Lua call); recomputing an estimate is not (read the queue's window, run the
 * model). So consumption only marks queues as touched, and this loop recomputes them:
 * - a queue touched after a quiet spell is refreshed at once (low rates: the estimate follows each event);
 * - while events keep coming, a busy queue is refreshed at most once per `minIntervalMs` (wall clock), so under
 *   load refresh work is bounded by the number of queues, not the number of events;
 * - when no event has been applied for `idleMs` (a burst is over), every queue still waiting is refreshed at once,
 *   without the rest of the `minIntervalMs` pause: the estimates catch up right after the last event;
 * - urgent changes (lanes, status, counts) skip the wait: an official's lane change shows at once;
 * - while the consumer is far behind the stream (a burst, a broker outage ridden out, a restart with a backlog),
 *   non-urgent refreshes wait for it to catch up (at most `maxDeferMs`): an estimate computed half-way through a
 *   backlog is stale before it is published, and the CPU goes to applying events instead.
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
  /** Refreshes at a time once no event has been applied for idleMs (nothing to take the CPU from). Default 8. */
  idleConcurrency?: number;
  logger: Logger;
  onResult?: (r: RefreshResult) => void;
  /**
   * A consumer at least this many messages behind the stream counts as backlogged (see `noteBacklog`). Default 256,
   * half a fetch: a consumer that keeps up sits near 0 (ingest bench: 1000 measured (a) 42 % / (b) 50 % of the
   * baseline, 256 measured 52-57 % / 58-59 %).
   */
  backlogThreshold?: number;
  /** The longest a touched queue's refresh waits for a backlog to clear. Default 5000 ms. */
  maxDeferMs?: number;
  /** No event applied for this long = idle: everything waiting is refreshed at once. Default 25 ms. */
  idleMs?: number;
}

export interface Refresher {
  enqueue(q: QueueRef, urgent?: boolean): void;
  /** Refreshes everything pending now (ignoring the interval) and resolves when idle. */
  drain(): Promise<void>;
  /** Queues waiting for a refresh or being refreshed. */
  pending(): number;
  /**
   * How many messages a consumer still has to apply: those not yet delivered (JetStream's pending count at its
   * latest message) plus those in progress. `scope` is '*' for the single consumer of all queues, or the
   * crossingId of a partition's consumer. At `backlogThreshold` or more, non-urgent refreshes of those queues wait.
   */
  noteBacklog(scope: string, pendingMessages: number): void;
  /** The largest backlog last noted. */
  backlog(): number;
  close(): Promise<void>;
}

export function createRefresher(opts: RefresherOptions): Refresher {
  const busyConcurrency = opts.concurrency ?? 4;
  const idleConcurrency = Math.max(busyConcurrency, opts.idleConcurrency ?? 8);
  const backlogThreshold = opts.backlogThreshold ?? 256;
  const maxDeferMs = opts.maxDeferMs ?? 5000;
  /** catchUp: events stopped (idle) since it started waiting, so due at once. */
  const pending = new Map<string, { q: QueueRef; urgent: boolean; catchUp: boolean }>();
  /** Backlog by scope ('*' or a crossingId). */
  const backlogs = new Map<string, number>();
  const idleMs = opts.idleMs ?? 25;
  /** When an event was last applied (enqueue), and the timer that notices when that stops. */
  let lastTouch = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  const lastRun = new Map<string, number>();
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let forceAll = false;
  let closed = false;

  const backlogged = (q: QueueRef) => (backlogs.get('*') ?? 0) >= backlogThreshold || (backlogs.get(q.crossingId) ?? 0) >= backlogThreshold;
  /** How long after its last refresh a waiting (non-urgent) queue becomes due; 0 = now. */
  const intervalFor = (e: { q: QueueRef; catchUp: boolean }) => (e.catchUp ? 0 : backlogged(e.q) ? maxDeferMs : opts.minIntervalMs);
  const isDue = (key: string, e: { q: QueueRef; urgent: boolean; catchUp: boolean }, now: number) =>
    forceAll || e.urgent || now - (lastRun.get(key) ?? -Infinity) >= intervalFor(e);

  /** Set while the loop waits with a free slot or for a refresh to end: wakes it early (see enqueue). */
  let wakeLoop: (() => void) | undefined;
  /** Queues being refreshed right now (a queue is never refreshed concurrently with itself). */
  const active = new Set<string>();

  /**
   * A pool of at most `concurrency` refreshes (`idleConcurrency` once events stopped): a slot freed is filled at
   * once, urgent queues first, so an urgent change waits for one refresh at most.
   */
  async function loop(): Promise<void> {
    const inProgress = new Set<Promise<void>>();
    for (;;) {
      const now = Date.now();
      const concurrency = now - lastTouch >= idleMs ? idleConcurrency : busyConcurrency;
      const free = concurrency - inProgress.size;
      if (free > 0) {
        const urgent: [string, QueueRef][] = [];
        const due: [string, QueueRef][] = [];
        for (const [key, e] of pending) {
          if (active.has(key)) continue;
          if (e.urgent) {
            urgent.push([key, e.q]);
            if (urgent.length >= free) break;
          } else if (due.length < free && isDue(key, e, now)) due.push([key, e.q]);
        }
        for (const [key, q] of [...urgent, ...due].slice(0, free)) {
          pending.delete(key); // re-enqueued keys go to the back: round robin under load
          const p = refreshOne(key, q).finally(() => inProgress.delete(p));
          inProgress.add(p);
        }
      }
      if (inProgress.size === 0) return;
      // until a refresh ends, or enqueue() brings something due while a slot is free
      await Promise.race([...inProgress, new Promise<void>((resolve) => (wakeLoop = resolve))]);
      wakeLoop = undefined;
    }
  }

  async function refreshOne(key: string, q: QueueRef): Promise<void> {
    lastRun.set(key, Date.now());
    active.add(key);
    try {
      const result = await opts.refresh(q); // not inside `onResult?.(...)`: that would skip the call
      opts.onResult?.(result);
    } catch (err) {
      opts.logger.error({ err, queue: key }, 'refreshing an estimate failed');
    } finally {
      active.delete(key);
    }
  }

  function schedule(): void {
    if (timer || closed || pending.size === 0) return;
    const now = Date.now();
    let wait = Infinity;
    for (const [key, e] of pending) wait = Math.min(wait, (lastRun.get(key) ?? -Infinity) + intervalFor(e) - now);
    timer = setTimeout(() => {
      timer = undefined;
      kick();
    }, Math.max(0, Math.min(wait, maxDeferMs)));
    timer.unref();
  }

  /** Re-armed at most once per idleMs while events keep coming; when they stopped, everything waiting is due. */
  function armIdle(): void {
    if (idleTimer || closed) return;
    idleTimer = setTimeout(onIdle, idleMs);
    idleTimer.unref();
  }
  function onIdle(): void {
    idleTimer = undefined;
    const quiet = Date.now() - lastTouch;
    if (quiet < idleMs) {
      idleTimer = setTimeout(onIdle, idleMs - quiet);
      idleTimer.unref();
      return;
    }
    if (pending.size === 0 || closed) return;
    for (const e of pending.values()) e.catchUp = true;
    if (timer) clearTimeout(timer);
    timer = undefined;
    void kick();
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
      const entry = { q, urgent: urgent || (prev?.urgent ?? false), catchUp: prev?.catchUp ?? false };
      pending.set(key, entry);
      const now = Date.now();
      lastTouch = now;
      armIdle();
      if (!running) {
        if (isDue(key, entry, now)) {
          if (timer) clearTimeout(timer);
          timer = undefined;
          void kick();
        } else schedule();
      } else if (wakeLoop && active.size < busyConcurrency && !active.has(key) && isDue(key, entry, now)) {
        // the loop is waiting on a refresh while a slot is free: start this one now, not after that refresh
        wakeLoop();
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
    pending: () => pending.size + active.size,
    noteBacklog(scope, pendingMessages) {
      const was = (backlogs.get(scope) ?? 0) >= backlogThreshold;
      backlogs.set(scope, pendingMessages);
      if (was && pendingMessages < backlogThreshold && !running && !closed) {
        // no longer behind: the normal interval applies again to what waited
        if (timer) clearTimeout(timer);
        timer = undefined;
        schedule();
      }
    },
    backlog: () => Math.max(0, ...backlogs.values()),
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = undefined;
      await this.drain();
      closed = true;
    },
  };
}
