/**
 * Event sources of the benchmarks, all valid v1 contract events:
 * - `desEventBatches`: realistic traffic from the DES (shared/sim) for a set of catalogued queues, merged in
 *   event-time order, ending before `endMs` (so nothing is "in the future"); the mix of arrivals, service starts,
 *   crossings, lanes, observations and statuses is the one the live simulator produces.
 * - `syntheticCatalogue`: a catalogue of N queues (crossings `bench-cNNNNN`, 2 directions x car, Korday's car
 *   profile), validated by the real CatalogueSchema, for the cost-growth row.
 * - `createLiveTraffic`: background events stamped "now" on the given queues (freshness row).
 * - `prepareEvents` + `publishPrepared`: events serialised (refs pseudonymised) before any clock starts, then
 *   published to JetStream with bounded in-flight acks, msgID = eventId; `publishEvents` does both.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JetStreamClient } from '@nats-io/jetstream';
import { CatalogueSchema, createCatalogue, type Catalogue, type VehicleClass } from '../../shared/catalogue/index.ts';
import { subjectForEvent, type KezekEvent, type Subjects } from '../../shared/events/index.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { createQueueSimulation, type QueueSimulation } from '../../shared/sim/des.ts';
import { buildQueueScenario } from '../../shared/sim/profile.ts';
import type { QueueStore } from '../../shared/queue-store/store.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface QueueRefLite {
  crossingId: string;
  direction: string;
  vehicleClass: VehicleClass;
}

/** Expected events per day of the given queues (arrivals x ~3 events per vehicle, plus lanes/observations). */
export function expectedEventsPerDay(catalogue: Catalogue, queues: readonly QueueRefLite[]): number {
  let total = 0;
  for (const q of queues) {
    const p = catalogue.profile(q.crossingId, q.vehicleClass);
    if (!p) continue;
    const weekday = p.weekdayFactors.reduce((a, b) => a + b, 0) / 7;
    total += p.hourlyArrivals.reduce((a, b) => a + b, 0) * weekday * 3 + 24 * 3 + 72;
  }
  return total;
}

/**
 * Yields batches of about `batchEvents` events (event-time order across queues) until `count` events were
 * produced or the simulations reached `endMs`. Event ids carry `tag`, so several runs can share a stream.
 */
export function* desEventBatches(opts: {
  catalogue: Catalogue;
  queues: readonly QueueRefLite[];
  count: number;
  endMs: number;
  tag: string;
  seed?: number;
  batchEvents?: number;
  /** The simulated span as a multiple of what `count` events take at the profiles' average daily rate (1.4). */
  slack?: number;
}): Generator<KezekEvent[]> {
  const perDay = expectedEventsPerDay(opts.catalogue, opts.queues);
  // 40 % slack by default: the day-of-week and per-day noise of the profiles; we stop at `count` anyway
  const spanMs = Math.max(HOUR_MS, Math.ceil(((opts.count * (opts.slack ?? 1.4)) / Math.max(1, perDay)) * DAY_MS));
  const startMs = opts.endMs - spanMs;
  const sims: QueueSimulation[] = opts.queues.map((q, i) =>
    createQueueSimulation(
      buildQueueScenario({
        catalogue: opts.catalogue,
        ...q,
        seed: (opts.seed ?? 7) + i,
        startMs,
        durationMs: spanMs,
        eventIdPrefix: `${opts.tag}:${q.crossingId}:${q.direction}:${q.vehicleClass}`,
        vehicleRefPrefix: `${opts.tag}-${i}-`,
        source: 'bench',
      }),
      { retainHistory: false },
    ),
  );
  const batchEvents = opts.batchEvents ?? 5000;
  // step small enough that one step of all queues is about one batch
  const stepMs = Math.max(1000, Math.min(HOUR_MS, Math.floor((batchEvents / Math.max(1, perDay)) * DAY_MS)));
  let produced = 0;
  let buf: KezekEvent[] = [];
  for (let t = startMs + stepMs; t <= opts.endMs && produced < opts.count; t += stepMs) {
    const step: KezekEvent[] = [];
    for (const s of sims) for (const ev of s.advanceTo(Math.min(t, opts.endMs - 1))) step.push(ev);
    step.sort((a, b) => Date.parse(a.occurredAt) - Date.parse(b.occurredAt));
    for (const ev of step) {
      if (produced >= opts.count) break;
      buf.push(ev);
      produced++;
    }
    if (buf.length >= batchEvents) {
      yield buf;
      buf = [];
    }
  }
  if (buf.length) yield buf;
}

/** All events of desEventBatches in one array (for counts that fit in memory comfortably). */
export function desEvents(opts: Parameters<typeof desEventBatches>[0]): KezekEvent[] {
  const out: KezekEvent[] = [];
  for (const b of desEventBatches(opts)) for (const ev of b) out.push(ev);
  return out;
}

/** Applies events straight through a queue store (no NATS), 256 calls in flight like the estimator's consumer. */
export async function applyThroughStore(store: QueueStore, events: readonly KezekEvent[]): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 256 }, async () => { while (next < events.length) await store.applyEvent(events[next++]!); }));
}

/**
 * The ingest row's workload: `count` DES events on every catalogued queue, ending at most a minute before now, and
 * `warmup` events with other eventIds ending a minute before the first of them. The DES stops at the end of its
 * simulated span, sized from the profiles' average daily rates, so a span over the quiet hours (an evening run) gave
 * fewer events than asked (7,866 of 15,000 at 19:20 UTC): the span is doubled until `count` are produced, so every
 * run times the same number of events whatever the hour (at most 4 tries; use `events.length`).
 */
export function ingestWorkload(catalogue: Catalogue, count: number, warmup: number): { events: KezekEvent[]; warmup: KezekEvent[] } {
  const queues = catalogue.queues();
  let events: KezekEvent[] = [];
  for (let slack = 1.4; events.length < count && slack <= 1.4 * 8; slack *= 2) events = desEvents({ catalogue, queues, count, endMs: Date.now() - 60_000, tag: 'ing', slack });
  const firstMs = Math.min(...events.map((e) => Date.parse(e.occurredAt)));
  return { events, warmup: desEvents({ catalogue, queues, count: warmup, endMs: firstMs - 60_000, tag: 'ingw' }) };
}

/** Writes a catalogue with `queues` queues (even number) to a temp file; returns the path and the catalogue. */
export function syntheticCatalogue(base: Catalogue, queues: number): { path: string; catalogue: Catalogue } {
  const korday = base.get('korday');
  const car = base.profile('korday', 'car');
  if (!korday || !car) throw new Error('the seed catalogue has no korday/car profile to copy');
  const crossings = Array.from({ length: Math.ceil(queues / 2) }, (_, i) => ({
    ...korday,
    id: `bench-c${String(i).padStart(5, '0')}`,
    names: { en: `Bench ${i}`, ru: `Bench ${i}`, kk: `Bench ${i}` },
    directions: ['KZ-KG', 'KG-KZ'],
    vehicleClasses: ['car'],
    classProfiles: [car],
    sources: [{ title: 'synthetic crossing for the cost-growth benchmark' }],
  }));
  const data = CatalogueSchema.parse({ version: 1, generatedNote: `bench: ${queues} synthetic queues`, crossings });
  const dir = mkdtempSync(join(tmpdir(), 'kezek-bench-cat-'));
  const path = join(dir, `catalogue-${queues}.json`);
  writeFileSync(path, JSON.stringify(data));
  return { path, catalogue: createCatalogue(data) };
}

/**
 * Background traffic stamped with the wall clock: per queue, after vehicle a arrives, vehicle a-4 starts service
 * and vehicle a-8 crosses (each once), round-robin over the queues, so queue lengths stay bounded and every event changes a window.
 */
export function createLiveTraffic(queues: readonly QueueRefLite[], tag: string): (nowMs: number) => KezekEvent {
  const next = queues.map(() => ({ n: 0, phase: 0 }));
  let qi = 0;
  let seq = 0;
  return (nowMs) => {
    const i = qi;
    qi = (qi + 1) % queues.length;
    const q = queues[i]!;
    const st = next[i]!;
    const occurredAt = new Date(nowMs).toISOString();
    const base = { crossingId: q.crossingId, direction: q.direction, vehicleClass: q.vehicleClass, occurredAt, source: 'bench' };
    const eventId = `${tag}:${seq++}`;
    let ev: KezekEvent;
    const a = st.n - 1; // the newest arrival of this queue
    if (st.phase === 0) {
      ev = { ...base, eventId, type: 'vehicle.arrived', vehicleRef: `${tag}-${i}-${st.n}` };
      st.n++;
      st.phase = st.n - 1 >= 4 ? 1 : 0;
    } else if (st.phase === 1) {
      ev = { ...base, eventId, type: 'vehicle.service_started', vehicleRef: `${tag}-${i}-${a - 4}` };
      st.phase = a >= 8 ? 2 : 0;
    } else {
      ev = { ...base, eventId, type: 'vehicle.crossed', vehicleRef: `${tag}-${i}-${a - 8}` };
      st.phase = 0;
    }
    return ev;
  };
}

/** A message ready to publish: nothing is computed for it inside a timed loop. */
export interface Prepared {
  subject: string;
  payload: string;
  msgID: string;
}

/** Serialises events as a producer publishes them: refs pseudonymised, subject by queue, msgID = eventId. */
export function prepareEvents(events: readonly KezekEvent[], s: Subjects, pseudonymKey: string): Prepared[] {
  return events.map((ev) => {
    const clean = pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, pseudonymKey);
    return { subject: subjectForEvent(s, clean), payload: JSON.stringify(clean), msgID: clean.eventId };
  });
}

/**
 * Publishes prepared messages with at most `window` acks outstanding (the ingest row publishes its baseline's
 * messages the same way). One continuation per message: it counts the ack and frees the slot.
 */
export async function publishPrepared(js: JetStreamClient, items: readonly Prepared[], window = 2000): Promise<{ stored: number; duplicates: number }> {
  let stored = 0;
  let duplicates = 0;
  const inflight = new Set<Promise<void>>();
  for (const it of items) {
    const p: Promise<void> = js.publish(it.subject, it.payload, { msgID: it.msgID, timeout: 30_000 }).then(
      (ack) => {
        if (ack.duplicate) duplicates++;
        else stored++;
        inflight.delete(p);
      },
      (err: unknown) => {
        inflight.delete(p);
        throw err;
      },
    );
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return { stored, duplicates };
}

/** Publishes events to JetStream (msgID = eventId, refs pseudonymised like a producer), at most `window` unacked. */
export function publishEvents(js: JetStreamClient, s: Subjects, events: readonly KezekEvent[], pseudonymKey: string, window = 2000): Promise<{ stored: number; duplicates: number }> {
  return publishPrepared(js, prepareEvents(events, s, pseudonymKey), window);
}
