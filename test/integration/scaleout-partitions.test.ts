/**
 * Lease-based partition balancing (services/estimator/partitions.ts + shared/leases) against the run's real
 * redis-server: ticks are driven by hand, so the rounds are deterministic and the test is fast.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createLogger } from '../../shared/logger.ts';
import { createLeaseStore } from '../../shared/leases/store.ts';
import { createPartitionManager, fairShare, preferredOwner, type PartitionManager } from '../../services/estimator/partitions.ts';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { KezekEventSchema, subjectForEvent, subjects } from '../../shared/events/index.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { durableName } from '../../services/estimator/consumer.ts';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';

const logger = createLogger({ service: 'partitions-test', level: 'silent', pretty: false });
const PARTS = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, '0')}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

function setup(leaseMs = 600) {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  cleanups.push(() => redis.quit());
  const prefix = uniquePrefix();
  const leases = createLeaseStore(redis, prefix);
  const running = new Map<string, Set<string>>();
  const make = (id: string): PartitionManager => {
    running.set(id, new Set());
    return createPartitionManager({
      leases,
      partitions: PARTS,
      instanceId: id,
      leaseMs,
      tickMs: 60_000, // ticks by hand
      logger,
      onAcquired: (p) => running.get(id)!.add(p),
      onLost: async (p) => {
        running.get(id)!.delete(p);
      },
    });
  };
  return { leases, make, running };
}

describe('partition leases', () => {
  it('a lone instance owns every partition after its first tick', async () => {
    const { make, running, leases } = setup();
    const a = make('a');
    await a.start();
    cleanups.push(() => a.stop());
    expect(a.owned()).toEqual(PARTS);
    expect([...running.get('a')!].sort()).toEqual(PARTS);
    expect(await leases.owner('c00')).toBe('a');
  });

  it('instances converge to their fair share, each partition has exactly one owner, and stop() hands everything back', async () => {
    const { make, running, leases } = setup(5000);
    const ms = ['a', 'b', 'c'].map(make);
    await ms[0]!.tick(); // a alone takes everything
    expect(ms[0]!.owned()).toHaveLength(12);
    for (let round = 0; round < 3; round++) for (const m of ms) await m.tick();
    expect(ms.map((m) => m.owned().length)).toEqual([4, 4, 4]);
    expect(new Set(ms.flatMap((m) => m.owned())).size).toBe(12);
    for (const [id, set] of running) expect([...set].sort()).toEqual(ms[['a', 'b', 'c'].indexOf(id)]!.owned());
    // rendezvous preference: most partitions end with their preferred owner
    const preferred = PARTS.filter((p) => ms.find((m) => m.owned().includes(p)) === ms[['a', 'b', 'c'].indexOf(preferredOwner(p, ['a', 'b', 'c'])!)]);
    expect(preferred.length).toBeGreaterThanOrEqual(8);
    for (const m of ms) await m.stop();
    expect((await Promise.all(PARTS.map((p) => leases.owner(p)))).every((o) => o === null)).toBe(true);
    expect(await leases.heartbeat('probe', 1000, false)).toEqual([]);
  });

  it("when an instance dies, its leases expire and the survivors take its partitions; a late renewal is refused", async () => {
    const { make, leases } = setup(600);
    const a = make('a');
    const b = make('b');
    await a.tick();
    for (let round = 0; round < 3; round++) {
      await a.tick();
      await b.tick();
    }
    expect([a.owned().length, b.owned().length]).toEqual([6, 6]);
    const bParts = b.owned();
    // b stops ticking (SIGKILL): after the lease time a's share becomes everything
    await sleep(700);
    await a.tick();
    expect(a.owned()).toEqual(PARTS);
    // b wakes up: its renewal is refused, so it drops every partition instead of overlapping with a
    expect(await leases.renew(bParts[0]!, 'b', 600)).toBe(false);
    await b.tick();
    expect(b.owned().filter((p) => bParts.includes(p))).toEqual([]);
  });

  it('fairShare rounds up so that the shares always cover every partition', () => {
    expect(fairShare(12, 1)).toBe(12);
    expect(fairShare(12, 5)).toBe(3);
    expect(fairShare(12, 0)).toBe(12);
    for (let n = 1; n <= 20; n++) expect(fairShare(12, n) * n).toBeGreaterThanOrEqual(12);
  });

  it('`rebuild` in crossing mode (the CLI) rebuilds the store, marks every crossing ready, removes the single consumer, and a later start replays nothing', async () => {
    const prefix = uniquePrefix();
    const catalogue = loadCatalogue();
    const nc = await connect({ servers: natsUrl() });
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    cleanups.push(() => redis.quit(), () => nc.drain());
    await ensureStreams(nc, { prefix });
    const js = jetstream(nc);
    const t0 = Date.now() - 3_600_000;
    for (let i = 0; i < 20; i++) {
      const ev = KezekEventSchema.parse({ eventId: `rb-${i}`, crossingId: i % 2 ? 'korday' : 'dostyk', direction: i % 2 ? 'KZ-KG' : 'KZ-CN', vehicleClass: 'car', occurredAt: new Date(t0 + i * 60_000).toISOString(), type: 'vehicle.arrived', vehicleRef: `v${i}` });
      await js.publish(subjectForEvent(subjects(prefix), ev), JSON.stringify(ev), { msgID: ev.eventId });
    }
    const deps = { nc, redis, catalogue, prefix, logger, pseudonymKey: 'partitions-test-key-0123456789', partitioning: 'crossing' as const, leaseMs: 2000 };
    const report = await createEstimator(deps).rebuild('test');
    expect(report.events).toBe(20);
    const leases = createLeaseStore(redis, prefix);
    const crossings = [...new Set(catalogue.queues().map((q) => q.crossingId))];
    for (const c of crossings) expect(await leases.isReady(c), c).toBe(true);
    expect(await redis.exists(`${prefix}:v1:initialised`)).toBe(1);
    const jsm = await jetstreamManager(nc);
    await expect(jsm.consumers.info(subjects(prefix).eventsStream, subjects(prefix).estimatorDurable)).rejects.toThrow();
    const est = createEstimator(deps);
    cleanups.push(() => est.stop());
    await est.start();
    expect(est.partitions()).toHaveLength(crossings.length);
    // a claimed partition creates its consumer in its own loop, just after start() returns: wait for it
    let info: Awaited<ReturnType<typeof jsm.consumers.info>> | undefined;
    for (let i = 0; i < 100 && !info; i++) {
      info = await jsm.consumers.info(subjects(prefix).eventsStream, durableName(prefix, 'korday')).catch(() => undefined);
      if (!info) await sleep(50);
    }
    if (!info) throw new Error('the korday partition never created its consumer');
    expect(info.config.filter_subject).toBe(subjects(prefix).eventsOfCrossing('korday'));
    // the new partition consumers deliver the 20 events again: wait until all are seen (not a fixed sleep)
    for (let i = 0; i < 200 && est.stats().duplicates < 20; i++) await sleep(50);
    expect(est.stats().duplicates).toBe(20); // everything it sees again is a duplicate
    expect(est.stats().applied).toBe(0);
    expect(est.stats().partitionReplays).toBe(0);
  }, 30_000);
});
