import { describe, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createLogger } from '../../shared/logger.ts';
import { until } from '../helpers/until.ts';
import { pino } from 'pino';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { subjects, validateEvent, type KezekEvent } from '../../shared/events/index.ts';
import { isPseudonym } from '../../shared/privacy.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { createSimulator } from '../../services/simulator/simulator.ts';
import { natsUrl, uniquePrefix } from '../helpers/env.ts';

const logger = createLogger({ service: 'test-simulator', level: 'silent', pretty: false });
const catalogue = loadCatalogue();
const KEY = 'test-pseudonym-key-0123456789';
const HOUR = 3_600_000;

/** Every message of the prefix's event stream, in stream order. */
async function readStream(nc: NatsConnection, prefix: string): Promise<{ subject: string; ev: KezekEvent }[]> {
  const stream = subjects(prefix).eventsStream;
  const total = (await (await jetstreamManager(nc)).streams.info(stream)).state.messages;
  const out: { subject: string; ev: KezekEvent }[] = [];
  if (total === 0) return out;
  const consumer = await jetstream(nc).consumers.get(stream);
  const msgs = await consumer.consume();
  for await (const m of msgs) {
    out.push({ subject: m.subject, ev: m.json() as KezekEvent });
    if (out.length >= total) break;
  }
  await msgs.close();
  return out;
}

async function runSimulator(prefix: string, nc: NatsConnection, seed: number, startMs: number, endMs: number, crossings: string[]) {
  await ensureStreams(nc, { prefix });
  const publisher = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger });
  const sim = createSimulator({ catalogue, publisher, speed: 50_000, seed, startMs, endMs, logger, crossings, tickMs: 5 });
  sim.start();
  await sim.finished();
  await publisher.flush();
  await publisher.close();
  return sim.stats();
}

describe('traffic simulator (accelerated, real NATS)', () => {
  it('publishes valid contract events for the chosen crossings, deterministic by seed', async () => {
    const nc = await connectNats({ url: natsUrl(), name: 'simulator-test' });
    try {
      const startMs = Date.UTC(2026, 10, 18, 5, 0, 0); // 10:00 in Korday / Bakhty local time, a Wednesday
      const endMs = startMs + 2 * HOUR;
      const [p1, p2, p3] = [uniquePrefix(), uniquePrefix(), uniquePrefix()];
      const stats = await runSimulator(p1, nc, 42, startMs, endMs, ['korday', 'bakhty']);
      await runSimulator(p2, nc, 42, startMs, endMs, ['korday', 'bakhty']);
      await runSimulator(p3, nc, 43, startMs, endMs, ['korday', 'bakhty']);

      const a = await readStream(nc, p1);
      const b = await readStream(nc, p2);
      const c = await readStream(nc, p3);
      expect(a.length).toBe(stats.eventsPublished);
      expect(a.length).toBeGreaterThan(500);

      for (const { subject, ev } of a) {
        const v = validateEvent(ev, { catalogue });
        expect(v.ok, JSON.stringify(v)).toBe(true);
        expect(['korday', 'bakhty']).toContain(ev.crossingId);
        expect(subject).toBe(subjects(p1).eventsFor(ev.crossingId, ev.direction));
        const t = Date.parse(ev.occurredAt);
        expect(t).toBeGreaterThanOrEqual(startMs);
        expect(t).toBeLessThan(endMs);
        if ('vehicleRef' in ev && ev.vehicleRef !== undefined) expect(isPseudonym(ev.vehicleRef)).toBe(true);
      }
      // published in event-time order
      const times = a.map((x) => Date.parse(x.ev.occurredAt));
      expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
      // every queue of both crossings is simulated
      const queues = new Set(a.map((x) => `${x.ev.crossingId}/${x.ev.direction}/${'vehicleClass' in x.ev ? x.ev.vehicleClass : ''}`));
      expect(queues.size).toBe(catalogue.queues().filter((q) => q.crossingId === 'korday' || q.crossingId === 'bakhty').length);

      // same seed -> identical events; another seed -> different traffic
      expect(b.map((x) => x.ev)).toEqual(a.map((x) => x.ev));
      expect(c.map((x) => x.ev.eventId)).not.toEqual(a.map((x) => x.ev.eventId));
    } finally {
      await nc.close();
    }
  });

  it('catches up to the wall clock and never emits future events', async () => {
    const prefix = uniquePrefix();
    const nc = await connectNats({ url: natsUrl(), name: 'simulator-test-live' });
    try {
      await ensureStreams(nc, { prefix });
      const publisher = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger });
      const started = Date.now();
      const sim = createSimulator({ catalogue, publisher, speed: 20_000, seed: 7, startMs: started - 30 * 60_000, logger, crossings: ['korday'], tickMs: 20 });
      sim.start();
      const deadline = Date.now() + 15_000;
      while (sim.stats().lagMs > 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(sim.stats().lagMs).toBeLessThanOrEqual(2000);
      await sim.stop();
      await sim.stop(); // idempotent
      await publisher.flush();
      await publisher.close();
      const evs = await readStream(nc, prefix);
      expect(evs.length).toBeGreaterThan(50);
      const stoppedAt = Date.now();
      for (const { ev } of evs) expect(Date.parse(ev.occurredAt)).toBeLessThanOrEqual(stoppedAt);
      expect(Math.max(...evs.map((x) => Date.parse(x.ev.occurredAt)))).toBeGreaterThan(started - 5 * 60_000);
    } finally {
      await nc.close();
    }
  });

  it('reports its catch-up with speed, events per second and an ETA that shrinks', async () => {
    const prefix = uniquePrefix();
    const nc = await connectNats({ url: natsUrl(), name: 'simulator-test-progress' });
    const lines: { msg: string; behindSeconds?: number; speed?: number; eventsPerSecond?: number; etaSeconds?: number }[] = [];
    const captured = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    try {
      await ensureStreams(nc, { prefix });
      const publisher = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger });
      const sim = createSimulator({ catalogue, publisher, speed: 2000, seed: 3, startMs: Date.now() - 3 * 3600_000, logger: captured, crossings: ['korday'], tickMs: 10, progressEveryMs: 300 });
      sim.start();
      await until('two catch-up lines', async () => lines.filter((l) => l.msg === 'simulator catching up to now').length >= 2, 20_000);
      await sim.stop();
      await publisher.close();
      const catchUp = lines.filter((l) => l.msg === 'simulator catching up to now');
      const [a, b] = [catchUp[0]!, catchUp[1]!];
      expect(a.speed!).toBeGreaterThan(100); // accelerated (2000x asked, bounded by the machine)
      expect(a.eventsPerSecond!).toBeGreaterThan(0);
      expect(a.etaSeconds).toBeGreaterThan(0);
      expect(b.behindSeconds!).toBeLessThan(a.behindSeconds!);
    } finally {
      await nc.close();
    }
  });

  it('rejects an unknown crossing with a coded error', () => {
    const publisher = { publishMany: async () => [], stats: () => ({ buffered: 0 }) } as never;
    expect(() => createSimulator({ catalogue, publisher, speed: 1, seed: 1, logger, crossings: ['atlantis'] })).toThrow(/unknown crossing/);
  });
});
