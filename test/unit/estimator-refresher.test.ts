import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { createRefresher, type RefresherOptions } from '../../services/estimator/refresher.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';

const q1: QueueRef = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' };
const q2: QueueRef = { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function harness(minIntervalMs: number, backlog: { backlogThreshold?: number; maxDeferMs?: number; idleMs?: number } = {}) {
  const calls: string[] = [];
  let active = 0;
  let maxActivePerQueue = 0;
  const activeByQueue = new Map<string, number>();
  const r = createRefresher({
    minIntervalMs,
    ...backlog,
    logger: pino({ level: 'silent' }),
    refresh: async (q) => {
      const k = `${q.direction}/${q.vehicleClass}`;
      activeByQueue.set(k, (activeByQueue.get(k) ?? 0) + 1);
      maxActivePerQueue = Math.max(maxActivePerQueue, activeByQueue.get(k)!);
      active += 1;
      calls.push(k);
      await sleep(5);
      active -= 1;
      activeByQueue.set(k, activeByQueue.get(k)! - 1);
      return 'published';
    },
  });
  return { r, calls, maxPerQueue: () => maxActivePerQueue, active: () => active };
}

/**
 * A refresher whose n-th refresh (1-based, for each n in `holdAt`) does not end until `open(n)`: tests decide when a
 * slot frees instead of assuming how fast a loaded machine runs. `calls` lists the refreshed queues' directions.
 */
function gated(holdAt: number[], opts: Partial<Omit<RefresherOptions, 'refresh' | 'logger'>> = {}) {
  const calls: string[] = [];
  const gates = new Map(
    holdAt.map((n) => {
      let open!: () => void;
      const held = new Promise<void>((r) => (open = r));
      return [n, { held, open }] as const;
    }),
  );
  const r = createRefresher({
    minIntervalMs: 60_000,
    ...opts,
    logger: pino({ level: 'silent' }),
    refresh: async (q) => {
      calls.push(q.direction);
      await gates.get(calls.length)?.held;
      return 'published';
    },
  });
  return { r, calls, open: (n: number) => gates.get(n)!.open() };
}
const dir = (direction: string): QueueRef => ({ crossingId: 'korday', direction, vehicleClass: 'car' });

describe('estimate refresher', () => {
  it('refreshes a queue touched after a quiet spell at once', async () => {
    const h = harness(60_000);
    h.r.enqueue(q1);
    await sleep(30);
    expect(h.calls).toEqual(['KZ-KG/truck']);
    await h.r.close();
  });

  it('coalesces a burst on a busy queue into one trailing refresh, never refreshing a queue concurrently with itself', async () => {
    const h = harness(60_000);
    h.r.enqueue(q1);
    await sleep(20);
    for (let i = 0; i < 50; i++) h.r.enqueue(q1);
    await sleep(20);
    expect(h.calls).toHaveLength(1); // within the interval: held back
    expect(h.r.pending()).toBe(1);
    await h.r.drain(); // shutdown/drain publishes what is pending, once
    expect(h.calls).toEqual(['KZ-KG/truck', 'KZ-KG/truck']);
    expect(h.maxPerQueue()).toBe(1);
    await h.r.close();
  });

  it('urgent changes (lanes, status, counts) skip the interval', async () => {
    const h = harness(60_000);
    h.r.enqueue(q1);
    await sleep(20);
    h.r.enqueue(q1, true);
    h.r.enqueue(q2);
    await sleep(40);
    expect(h.calls.filter((c) => c === 'KZ-KG/truck')).toHaveLength(2);
    expect(h.calls).toContain('KG-KZ/car');
    await h.r.close();
  });

  it('runs the trailing refresh by itself once the interval has passed', async () => {
    const h = harness(50);
    h.r.enqueue(q1);
    await sleep(10);
    h.r.enqueue(q1);
    await sleep(150);
    expect(h.calls).toHaveLength(2);
    expect(h.r.pending()).toBe(0);
    await h.r.close();
  });
});

describe('estimate refresher under load', () => {
  it('serves an urgent change before a backlog of ordinary refreshes', async () => {
    const { r, calls, open } = gated([1, 2], { minIntervalMs: 0, concurrency: 2 }); // the first two hold their slots
    for (let i = 0; i < 10; i++) r.enqueue(dir(`D${i}`));
    while (calls.length < 2) await sleep(1); // two refreshes under way, eight waiting
    r.enqueue(dir('URGENT'), true);
    open(1);
    open(2);
    await r.drain();
    expect(calls).toHaveLength(11);
    expect(calls.indexOf('URGENT')).toBe(2); // the first slot that frees up
    await r.close();
  });

  describe('while the consumer is far behind the stream', () => {
    const q3: QueueRef = { crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'truck' };

    it('non-urgent refreshes wait while it is far behind; once events stop, every waiting queue is refreshed', async () => {
      const h = harness(30, { backlogThreshold: 100, maxDeferMs: 60_000, idleMs: 60 });
      h.r.enqueue(q1);
      h.r.enqueue(q2);
      await sleep(30);
      expect(h.calls).toHaveLength(2); // first touches: at once, backlog or not
      h.r.noteBacklog('*', 5000);
      for (let i = 0; i < 8; i++) {
        // events keep coming (never idle), far more than the normal interval
        h.r.enqueue(q1);
        h.r.enqueue(q2);
        await sleep(20);
      }
      expect(h.calls).toHaveLength(2);
      expect(h.r.backlog()).toBe(5000);
      h.r.noteBacklog('*', 0);
      await sleep(150); // idle, then the catch-up
      expect(h.calls.slice(2).sort()).toEqual(['KG-KZ/car', 'KZ-KG/truck']);
      await h.r.close();
    });

    it('when events stop, what waits is refreshed without sitting out the rest of the interval', async () => {
      const h = harness(60_000, { idleMs: 60 });
      h.r.enqueue(q1);
      await sleep(20);
      for (let i = 0; i < 5; i++) {
        h.r.enqueue(q1); // a busy queue: held back by the 60 s interval while events keep coming
        await sleep(20);
      }
      expect(h.calls).toEqual(['KZ-KG/truck']);
      await sleep(120);
      expect(h.calls).toEqual(['KZ-KG/truck', 'KZ-KG/truck']);
      expect(h.r.pending()).toBe(0);
      await h.r.close();
    });

    it('a backlog that does not clear delays a refresh by at most maxDeferMs', async () => {
      const h = harness(10, { backlogThreshold: 100, maxDeferMs: 150, idleMs: 10_000 });
      h.r.enqueue(q1);
      await sleep(20);
      h.r.noteBacklog('*', 10_000);
      h.r.enqueue(q1);
      await sleep(60);
      expect(h.calls).toHaveLength(1);
      await sleep(200);
      expect(h.calls).toHaveLength(2);
      await h.r.close();
    });

    it('a backlog that clears ends the burst at once: what waited is refreshed without waiting idleMs', async () => {
      const h = harness(60_000, { backlogThreshold: 100, maxDeferMs: 60_000, idleMs: 10_000 });
      h.r.enqueue(q1);
      h.r.enqueue(q2);
      await sleep(30);
      expect(h.calls).toHaveLength(2);
      h.r.noteBacklog('*', 5000);
      h.r.enqueue(q1);
      h.r.enqueue(q2);
      await sleep(30);
      expect(h.calls).toHaveLength(2); // held back by the backlog (and the 60 s interval)
      h.r.noteBacklog('*', 40); // still catching up: not over yet
      await sleep(30);
      expect(h.calls).toHaveLength(2);
      h.r.noteBacklog('*', 0);
      await sleep(30); // far less than idleMs
      expect(h.calls.slice(2).sort()).toEqual(['KG-KZ/car', 'KZ-KG/truck']);
      expect(h.r.pending()).toBe(0);
      await h.r.close();
    });

    it('a consumer that is behind has only stalled when no event comes for idleMs: no catch-up until its backlog clears', async () => {
      const h = harness(60_000, { backlogThreshold: 100, maxDeferMs: 60_000, idleMs: 20 });
      h.r.enqueue(q1);
      await sleep(30);
      h.r.noteBacklog('*', 5000);
      h.r.enqueue(q1);
      await sleep(80); // 4 x idleMs without an event
      expect(h.calls).toEqual(['KZ-KG/truck']);
      h.r.noteBacklog('*', 0);
      await sleep(30);
      expect(h.calls).toEqual(['KZ-KG/truck', 'KZ-KG/truck']);
      await h.r.close();
    });

    it('a stall while behind keeps refreshes one at a time (it does not count as quiet)', async () => {
      const { r, calls, open } = gated([1, 2], { idleMs: 30, concurrency: 1, backlogThreshold: 100, maxDeferMs: 60_000, minIntervalMs: 0 });
      r.noteBacklog('*', 5000);
      for (const d of ['X', 'Y', 'Z']) r.enqueue(dir(d), true); // urgent, and a 0 ms interval: due even while behind
      await sleep(100); // X holds the slot; no event for 3 x idleMs
      expect(calls).toEqual(['X']);
      open(1);
      await sleep(30);
      expect(calls).toEqual(['X', 'Y']); // the freed slot is the only one: Z still waits
      open(2);
      await r.drain();
      expect(calls).toEqual(['X', 'Y', 'Z']);
      await r.close();
    });

    it('once events are applied again after a catch-up began, what still waits goes back to the interval', async () => {
      // the catch-up's first refresh (the 3rd) holds the only slot
      const { r, calls, open } = gated([3], { idleMs: 50, concurrency: 1, idleConcurrency: 1 });
      r.enqueue(dir('A'));
      r.enqueue(dir('B'));
      await sleep(10);
      expect(calls).toEqual(['A', 'B']); // first touches
      r.enqueue(dir('A'));
      r.enqueue(dir('B'));
      await sleep(80); // idle: the catch-up starts with A, B waits for the slot
      expect(calls).toEqual(['A', 'B', 'A']);
      r.enqueue(dir('A')); // events again: B's catch-up is off, the 60 s interval applies
      open(3);
      await sleep(20);
      expect(calls).toEqual(['A', 'B', 'A']);
      await sleep(100); // quiet again for idleMs: both are caught up
      expect(calls.slice(3).sort()).toEqual(['A', 'B']);
      await r.close();
    });

    it('a catch-up that events cut short does not come back with a stall while behind', async () => {
      // held: the catch-up's first refresh (3rd) and an urgent one that spans the stall (4th)
      const { r, calls, open } = gated([3, 4], { idleMs: 50, concurrency: 1, idleConcurrency: 1, backlogThreshold: 100, maxDeferMs: 60_000, minIntervalMs: 40 });
      r.enqueue(dir('A'));
      r.enqueue(dir('B'));
      await sleep(10);
      r.enqueue(dir('A'));
      r.enqueue(dir('B'));
      await sleep(80); // quiet: the catch-up starts with A; B waits for the only slot
      expect(calls).toEqual(['A', 'B', 'A']);
      r.noteBacklog('*', 5000); // a new burst, far behind
      r.enqueue(dir('C'), true); // events again: B's catch-up is over
      open(3);
      await sleep(120); // C (urgent) runs after the 40 ms interval; the consumer is silent for 2 x idleMs while behind
      expect(calls).toEqual(['A', 'B', 'A', 'C']);
      open(4);
      await sleep(30);
      expect(calls).toEqual(['A', 'B', 'A', 'C']); // B is not due: the stall did not end the burst
      r.noteBacklog('*', 0); // caught up: the burst is over
      await sleep(30);
      expect(calls).toEqual(['A', 'B', 'A', 'C', 'B']);
      await r.close();
    });

    it('while behind, an urgent change waits at most the interval for the backlog to clear', async () => {
      const h = harness(100, { backlogThreshold: 100, maxDeferMs: 60_000, idleMs: 10_000 });
      h.r.noteBacklog('*', 5000);
      h.r.enqueue(q1, true);
      await sleep(40);
      expect(h.calls).toHaveLength(0); // never refreshed, but behind: it waits for the backlog
      await sleep(120);
      expect(h.calls).toEqual(['KZ-KG/truck']); // the backlog did not clear: refreshed about 100 ms after it came
      h.r.enqueue(q2, true);
      await sleep(20);
      expect(h.calls).toHaveLength(1);
      h.r.noteBacklog('*', 0); // caught up: what waits is refreshed at once
      await sleep(20);
      expect(h.calls).toEqual(['KZ-KG/truck', 'KG-KZ/car']);
      await h.r.close();
    });

    it('a queue touched after a quiet spell while the consumer is behind waits for the backlog, not the first event of a burst', async () => {
      const h = harness(20, { backlogThreshold: 100, maxDeferMs: 150, idleMs: 10_000 });
      h.r.enqueue(q1);
      await sleep(60);
      expect(h.calls).toEqual(['KZ-KG/truck']); // not behind: at once
      h.r.noteBacklog('*', 5000); // a burst: far behind
      h.r.enqueue(q1); // last refreshed longer ago than the interval
      h.r.enqueue(q2); // never refreshed
      await sleep(60);
      expect(h.calls).toEqual(['KZ-KG/truck']); // both wait: an estimate computed now is stale before it is out
      await sleep(200); // maxDeferMs from when they began waiting: refreshed even though the backlog did not clear
      expect(h.calls.slice(1).sort()).toEqual(['KG-KZ/car', 'KZ-KG/truck']);
      await h.r.close();
    });

    it("a partition's backlog holds back its own crossing only; the normal interval applies again once it clears", async () => {
      const h = harness(20, { backlogThreshold: 100, maxDeferMs: 60_000, idleMs: 10_000 });
      h.r.enqueue(q1);
      h.r.enqueue(q3);
      await sleep(30);
      h.r.noteBacklog('korday', 10_000);
      h.r.noteBacklog('nur-zholy', 3);
      h.r.enqueue(q1);
      h.r.enqueue(q3);
      await sleep(80);
      expect(h.calls.filter((c) => c === 'KZ-CN/truck')).toHaveLength(2);
      expect(h.calls.filter((c) => c === 'KZ-KG/truck')).toHaveLength(1);
      h.r.noteBacklog('korday', 50);
      await sleep(30);
      expect(h.calls.filter((c) => c === 'KZ-KG/truck')).toHaveLength(2);
      await h.r.close();
    });
  });
});
