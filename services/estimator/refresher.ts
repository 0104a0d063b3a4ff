/**
 * Background refresh of queue estimates, decoupled from consumption.
 *
 * Applying an event is cheap (one Lua call); recomputing an estimate is not (read the queue's window, run the
 * model). So consumption only marks queues as touched, and this loop recomputes them:
 * - a queue touched after a quiet spell is refreshed at once (low rates: the estimate follows each event);
 * - while events keep coming, a busy queue is refreshed at most once per `minIntervalMs` (wall clock), so under
 *   load refresh work is bounded by the number of queues, not the number of events;
 * - when a burst is over, every queue still waiting is refreshed at once (`idleConcurrency` at a time), without the
 *   rest of the `minIntervalMs` pause: the estimates catch up right after the last event. Over = a consumer that was
 *   behind has nothing left to apply (its backlog, see `noteBacklog`, fell to 0), or no event was applied for
 *   `idleMs` while no consumer is behind (a consumer that is behind has only stalled: a fetch round trip on a busy
 *   machine). Once events are applied again, what still waits goes back to the rules below;
 * - urgent changes (lanes, status, counts) skip the wait: an official's lane change shows at once;
 * - while the consumer is behind the stream (a burst, a broker outage ridden out, a restart with a backlog), a
 *   touched queue waits for it to catch up: at most `maxDeferMs` from when it began waiting, an urgent change at
 *   most `minIntervalMs` from when it came. This holds for a queue touched after a quiet spell too: an estimate
 *   computed half-way through a backlog is stale before it is published, and the CPU goes to applying events
 *   instead (the first event of every queue in a burst used to start a refresh each).
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
  /**
   * Refreshes at a time once no event has been applied for idleMs (nothing to take the CPU from). Default 16: the
   * publisher reads only a few windows at a time (READS_IN_FLIGHT in publish.ts), so Redis reads the next ones while
   * Node runs the models of the last (bench/experiments/catch-up.ts, after the ingest bench's 15k events on 72
   * queues, medians of 4: 8 at a time with unlimited reads 135 ms; with 4 reads in flight 8 / 16 / 64 at a time 126 /
   * 110 / 106 ms). Not more: a pause mid-burst also starts a catch-up, and every queue it refreshes is refreshed again
   * when the burst ends (64 at a time: 10.8 refreshes per 1k events in the ingest row, 16: 7.0-7.6, 8: 5.2-7.6).
   */
  idleConcurrency?: number;
  logger: Logger;
  onResult?: (r: RefreshResult) => void;
  /**
   * A consumer at least this many events behind the stream counts as backlogged (see `noteBacklog`). Default 256,
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
   * crossingId of a partition's consumer. At `backlogThreshold` or more, refreshes of those queues wait (see above);
   * when it falls back to 0 the burst is over and what waited is refreshed at once.
   */
  noteBacklog(scope: string, pendingMessages: number): void;
  /** The largest backlog last noted. */
  backlog(): number;
  close(): Promise<void>;
}

interface Entry {
  q: QueueRef;
  urgent: boolean;
  /** The quiet spell (`quietAt`) whose catch-up this entry belongs to; -1 = none. Due at once while it lasts. */
  catchUp: number;
  /** When the queue began waiting (its first enqueue since its last refresh began), and when it became urgent. */
  since: number;
  urgentSince: number;
}

export function createRefresher(opts: RefresherOptions): Refresher {
  const busyConcurrency = opts.concurrency ?? 4;
  const idleConcurrency = Math.max(busyConcurrency, opts.idleConcurrency ?? 16);
  const backlogThreshold = opts.backlogThreshold ?? 256;
  const maxDeferMs = opts.maxDeferMs ?? 5000;
  const pending = new Map<string, Entry>();
  /** Backlog by scope ('*' or a crossingId). */
  const backlogs = new Map<string, number>();
  /** Scopes that were backlogged since their backlog was last 0: when it reaches 0, their burst is over. */
  const burst = new Set<string>();
  const idleMs = opts.idleMs ?? 25;
  /** When an event was last applied (enqueue), and the timer that notices when that stops. */
  let lastTouch = 0;
  /** Events applied (enqueue calls) so far, and that count when a burst was last seen to end (catchUp). */
  let touches = 0;
  let quietAt = -1;
  /** No event applied since a burst ended: catch-up entries are due, idleConcurrency refreshes at a time. */
  const quiet = () => touches === quietAt;
  let idleTimer: NodeJS.Timeout | undefined;
  const lastRun = new Map<string, number>();
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let forceAll = false;
  let closed = false;

  const backlogged = (q: QueueRef) => (backlogs.get('*') ?? 0) >= backlogThreshold || (backlogs.get(q.crossingId) ?? 0) >= backlogThreshold;
  /**
   * When a waiting queue becomes due (-Infinity = now). Not behind: urgent at once, others `minIntervalMs` after the
   * queue's last refresh. While its consumer is behind: an urgent change `minIntervalMs` after it came (a burst's
   * lane changes and counts are seen within the interval even if the backlog does not clear), others `maxDeferMs`
   * after the queue began waiting. Once a burst is over (catchUp), everything waiting is due at once.
   */
  const dueAt = (key: string, e: Entry): number => {
    if (e.catchUp === quietAt && quiet()) return -Infinity;
    if (!backlogged(e.q)) return e.urgent ? -Infinity : (lastRun.get(key) ?? -Infinity) + opts.minIntervalMs;
    if (e.urgent) return e.urgentSince + opts.minIntervalMs;
    return Math.max(e.since + maxDeferMs, (lastRun.get(key) ?? -Infinity) + opts.minIntervalMs);
  };
  const isDue = (key: string, e: Entry, now: number) => forceAll || now >= dueAt(key, e);

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
      const concurrency = quiet() ? idleConcurrency : busyConcurrency;
      const free = concurrency - inProgress.size;
      if (free > 0) {
        const urgent: [string, QueueRef][] = [];
        const due: [string, QueueRef][] = [];
        for (const [key, e] of pending) {
          if (active.has(key)) continue;
          if (e.urgent) {
            if (!isDue(key, e, now)) continue;
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
    for (const [key, e] of pending) wait = Math.min(wait, dueAt(key, e) - now);
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
    const since = Date.now() - lastTouch;
    if (since < idleMs) {
      idleTimer = setTimeout(onIdle, idleMs - since);
      idleTimer.unref();
      return;
    }
    // a consumer still behind the stream has only stalled (a fetch round trip on a busy machine): its burst is not
    // over, and its queues catch up when its backlog clears (noteBacklog)
    if ((backlogs.get('*') ?? 0) >= backlogThreshold) return;
    catchUp((q) => !backlogged(q));
  }
  /** The burst is over for the queues `inScope` selects: what waits of them is due now. */
  function catchUp(inScope: (q: QueueRef) => boolean): void {
    if (closed) return;
    quietAt = touches; // even with nothing waiting: a drain (shutdown) then also runs idleConcurrency at a time
    if (pending.size === 0) return;
    let any = false;
    for (const e of pending.values()) {
      if (inScope(e.q)) {
        e.catchUp = quietAt;
        any = true;
      }
    }
    if (!any) return;
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (running) wakeLoop?.();
    else void kick();
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
      const now = Date.now();
      const entry: Entry = prev
        ? { q, urgent: urgent || prev.urgent, catchUp: prev.catchUp, since: prev.since, urgentSince: prev.urgent ? prev.urgentSince : urgent ? now : Infinity }
        : { q, urgent, catchUp: -1, since: now, urgentSince: urgent ? now : Infinity };
      pending.set(key, entry);
      lastTouch = now;
      touches += 1;
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
      if (pendingMessages >= backlogThreshold) burst.add(scope);
      else if (pendingMessages === 0 && burst.delete(scope)) {
        // a backlog just cleared: the burst is over for this consumer's queues, without waiting idleMs for it
        catchUp((q) => scope === '*' || q.crossingId === scope);
        return;
      }
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
