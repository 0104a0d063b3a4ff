/**
 * Row 6, scale-out: events/s end to end (the real estimator as child processes, from a stream already holding the
 * events to every event applied, every touched queue refreshed and the store marked initialised) on the same DES
 * event set, for: one instance with the single consumer (ESTIMATOR_PARTITIONING=off, the baseline), one instance
 * partitioned by crossing, and two instances partitioned by crossing (Redis leases share the 12 crossings; the
 * second instance joins while the first is already replaying, so the hand-over is part of the measurement).
 * Process start-up (tsx) is inside every figure. On a 2-core machine the two instances compete with nats-server and
 * redis-server for the same cores: read the ratio as "what a second instance buys here", not as a scaling law.
 */
import { subjects } from '../../shared/events/subjects.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { durableName } from '../../services/estimator/consumer.ts';
import { desEvents, publishEvents } from '../lib/events.ts';
import { BENCH_PSEUDONYM_KEY, type Harness } from '../lib/harness.ts';
import { startChild, waitUntil, type BenchChild } from '../lib/procs.ts';
import { fmt, fmtRatio, ratio, type ResultRow } from '../lib/stats.ts';

type Variant = { label: string; instances: number; partitioning: 'off' | 'crossing' };

const VARIANTS: Variant[] = [
  { label: '1 instance, single consumer', instances: 1, partitioning: 'off' },
  { label: '1 instance, partitioned by crossing', instances: 1, partitioning: 'crossing' },
  { label: '2 instances, partitioned by crossing', instances: 2, partitioning: 'crossing' },
];

export async function scaleoutRow(h: Harness): Promise<ResultRow[]> {
  const n = h.opts.ingestEvents;
  const events = desEvents({ catalogue: h.catalogue, queues: h.catalogue.queues(), count: 2 * n, endMs: Date.now() - 60_000, tag: 'so' }).slice(0, n);
  const crossings = [...new Set(h.catalogue.queues().map((q) => q.crossingId))];
  const results: { v: Variant; ms: number; rate: number }[] = [];
  for (const v of VARIANTS) {
    const prefix = h.newPrefix(`so${v.instances}${v.partitioning[0]}`);
    const s = subjects(prefix);
    h.progress(`scaleout: ${v.label}: publishing ${events.length} events`);
    await ensureStreams(h.nc, { prefix });
    await publishEvents(h.js, s, events, BENCH_PSEUDONYM_KEY);
    const durables = v.partitioning === 'off' ? [s.estimatorDurable] : crossings.map((c) => durableName(prefix, c));
    const env = h.env(prefix, { ESTIMATOR_PARTITIONING: v.partitioning, ESTIMATOR_LEASE_MS: '3000' });
    const t0 = performance.now();
    const children: BenchChild[] = await Promise.all(Array.from({ length: v.instances }, () => startChild('estimator', { env, readyTimeoutMs: 600_000 })));
    try {
      await waitUntil(
        async () => {
          if ((await h.redis.exists(`${prefix}:v1:initialised`)) !== 1) return false;
          for (const d of durables) {
            const info = await h.jsm.consumers.info(s.eventsStream, d).catch(() => undefined);
            if (!info || info.num_pending !== 0 || info.num_ack_pending !== 0) return false;
          }
          return true;
        },
        `${v.label} to apply every event`,
        600_000,
        50,
      );
      const ms = performance.now() - t0;
      results.push({ v, ms, rate: (events.length * 1000) / ms });
      h.progress(`scaleout: ${v.label}: ${(ms / 1000).toFixed(1)} s`);
    } finally {
      await Promise.all(children.map((c) => c.stop()));
      await h.cleanup(prefix);
    }
  }
  const base = results[0]!;
  return results.map(({ v, ms, rate }) => ({
    group: '6 scale-out',
    what: `${v.label}: ${events.length.toLocaleString('en-US')} events from a filled stream, end to end`,
    result: fmt(rate, 'ev/s'),
    baseline: fmt(base.rate, 'ev/s'),
    ratio: fmtRatio(ratio(rate, base.rate)),
    target: '-',
    verdict: 'info' as const,
    data: { instances: v.instances, partitioning: v.partitioning, events: events.length, durationMs: ms, eventsPerSecond: rate },
  }));
}
