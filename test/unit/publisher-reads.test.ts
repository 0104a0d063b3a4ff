/**
 * The publisher's read limiter (services/estimator/publish.ts): a catch-up starts many refreshes, but only
 * READS_IN_FLIGHT window reads are in Redis at a time, and the next reads go out before any model of the reads that
 * came back runs (so Redis works while Node computes).
 */
import { describe, expect, it } from 'vitest';
import { createLimiter, createPublisher, READS_IN_FLIGHT } from '../../services/estimator/publish.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import { createLogger } from '../../shared/logger.ts';

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('createLimiter', () => {
  it('runs at most `limit` calls at a time, in arrival order, and frees a slot when a call fails', async () => {
    const limit = createLimiter(2);
    const started: number[] = [];
    const release = new Map<number, { ok: () => void; fail: () => void }>();
    const results = Array.from({ length: 5 }, (_, i) =>
      limit(
        () =>
          new Promise<number>((resolve, reject) => {
            started.push(i);
            release.set(i, { ok: () => resolve(i), fail: () => reject(new Error(`call ${i}`)) });
          }),
      ).then((v) => `ok ${v}`, (e: Error) => e.message),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    release.get(1)!.fail();
    await tick();
    expect(started).toEqual([0, 1, 2]);
    release.get(0)!.ok();
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    release.get(2)!.ok();
    release.get(3)!.ok();
    await tick();
    expect(started).toEqual([0, 1, 2, 3, 4]);
    release.get(4)!.ok();
    expect(await Promise.all(results)).toEqual(['ok 0', 'call 1', 'ok 2', 'ok 3', 'ok 4']);
  });
});

describe('publisher.refresh reads', () => {
  it(`keeps at most ${READS_IN_FLIGHT} window reads in flight, and sends the next ones before computing`, async () => {
    const catalogue = loadCatalogue();
    const queues = catalogue.queues().slice(0, 12);
    let inFlight = 0;
    let maxInFlight = 0;
    const log: string[] = [];
    const pending: (() => void)[] = [];
    // a store whose reads the test answers; every window is empty (no events), so refresh ends after the read
    const store = {
      readLatestWindow: () => {
        inFlight += 1;
        maxInFlight = Math.max(maxInFlight, inFlight);
        log.push('read');
        return new Promise((resolve) =>
          pending.push(() => {
            inFlight -= 1;
            resolve(null);
          }),
        );
      },
    } as unknown as QueueStore;
    const publisher = createPublisher({ store, js: {} as never, catalogue, prefix: 't', logger: createLogger({ service: 't', level: 'silent', pretty: false }), staleAfterMs: 60_000, republishEveryMs: 600_000, now: Date.now });
    const done = queues.map((q) => publisher.refresh(q).then((r) => log.push(`done ${r}`)));
    await tick();
    expect(inFlight).toBe(READS_IN_FLIGHT);
    // Redis answers the first batch together (one pipeline): the next reads go out before any refresh goes on
    for (const answer of pending.splice(0, READS_IN_FLIGHT)) answer();
    await Promise.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(log.filter((l) => l === 'read')).toHaveLength(2 * READS_IN_FLIGHT);
    expect(log.some((l) => l.startsWith('done'))).toBe(false);
    while (pending.length) {
      for (const answer of pending.splice(0)) answer();
      await tick();
    }
    await Promise.all(done);
    expect(maxInFlight).toBe(READS_IN_FLIGHT);
    expect(log.filter((l) => l === 'done no-events')).toHaveLength(queues.length);
  });
});
