/**
 * Phase B of the accuracy benchmark: the REAL pipeline. Starts a throwaway nats-server and redis-server, and for
 * each scenario run: publishes the simulated events to JetStream (msgID = eventId) under a fresh prefix, runs the
 * estimator service (services/estimator/estimator.ts) until it has consumed every event, then asks the queue
 * store `estimateAsOf(queue, probeTime)` at each probe time. Event time drives everything, so replaying a day in
 * seconds gives the estimates a live deployment would have published.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { jetstream } from '@nats-io/jetstream';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import { subjectForEvent, subjects } from '../../shared/events/index.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { computeEstimate } from '../../shared/estimation/model.ts';
import { startNatsServer, startRedisServer } from '../../shared/local-servers.ts';
import { createLogger } from '../../shared/logger.ts';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import type { ScenarioSpec, SimResult } from '../../shared/sim/des.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { modelContext, queueOf } from './score.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Pipeline {
  estimates(spec: ScenarioSpec, sim: SimResult): Promise<Map<number, QueueEstimate>>;
  close(): Promise<void>;
}

export async function startPipeline(catalogue: Catalogue, opts: { progress?: (line: string) => void } = {}): Promise<Pipeline> {
  const progress = opts.progress ?? ((line: string) => process.stderr.write(`    ${line}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'kezek-accuracy-'));
  const nats = await startNatsServer({ dataDir: join(dir, 'nats') });
  const redisServer = await startRedisServer({ dataDir: join(dir, 'redis') });
  const nc = await connectNats({ url: nats.url, name: 'bench-accuracy' });
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: 2 });
  const logger = createLogger({ service: 'bench-accuracy', level: 'silent', pretty: false });
  const js = jetstream(nc);
  const pseudonymKey = randomBytes(16).toString('hex');

  async function estimates(spec: ScenarioSpec, sim: SimResult): Promise<Map<number, QueueEstimate>> {
    const prefix = `acc${randomBytes(4).toString('hex')}`;
    const s = subjects(prefix);
    await ensureStreams(nc, { prefix });

    // Publish the day's events, a bounded number in flight; msgID = eventId lets the broker drop re-sends.
    const t0 = Date.now();
    const inFlight = new Set<Promise<unknown>>();
    for (const ev of sim.events) {
      const p = js.publish(subjectForEvent(s, ev), JSON.stringify(ev), { msgID: ev.eventId }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 256) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    progress(`published ${sim.events.length} events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // Run the estimator until everything was consumed (applied, duplicate or dead-lettered).
    const t1 = Date.now();
    const estimator = createEstimator({ nc, redis, catalogue, prefix, logger, pseudonymKey, republishEveryMs: 60 * 60_000 });
    await estimator.start();
    let lastShown = Date.now();
    for (;;) {
      const st = estimator.stats();
      const consumed = st.applied + st.duplicates + st.deadLettered;
      if (consumed >= sim.events.length) break;
      if (Date.now() - lastShown > 5000) {
        progress(`estimator consumed ${consumed}/${sim.events.length}`);
        lastShown = Date.now();
      }
      if (Date.now() - t1 > 10 * 60_000) throw new Error(`estimator consumed only ${consumed}/${sim.events.length} events in 10 minutes`);
      await sleep(100);
    }
    await estimator.stop();
    const st = estimator.stats();
    if (st.deadLettered > 0) throw new Error(`${st.deadLettered} simulated events were dead-lettered; the benchmark needs all of them`);
    progress(`estimator applied ${st.applied} events in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    // Ask the store, as the API does, for the estimate as of each probe time.
    const q = queueOf(spec);
    const ctx = modelContext(catalogue, q, Date.now());
    const store = createQueueStore({ redis, prefix, model: (w) => computeEstimate(w, ctx) });
    const out = new Map<number, QueueEstimate>();
    for (const p of sim.probes) out.set(p.atMs, await store.estimateAsOf(q, p.atMs));
    return out;
  }

  return {
    estimates,
    async close() {
      await nc.drain().catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await redisServer.stop();
      await nats.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
