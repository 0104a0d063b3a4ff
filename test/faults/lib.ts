/**
 * Helpers of the fault-injection tests: heavy realistic event streams from the DES, the estimator as a child
 * process (so it can be SIGKILLed), a reference state computed straight from the event log, and a canonical,
 * prefix-free dump of the queue store that leaves out what legitimately depends on wall-clock timing
 * (published estimates, the estimate summaries in history buckets, the initialised marker).
 */
import { Redis } from 'ioredis';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { simulateQueue, type ScenarioSpec } from '../../shared/sim/des.ts';
import { subjectForEvent, subjects, validateEvent, type KezekEvent } from '../../shared/events/index.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';
import { dumpKeys, type DumpValue } from '../../shared/queue-store/dump.ts';
import { computeEstimate, MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { runStart, type StartProcess } from '../helpers/start-process.ts';
import { until as pollUntil } from '../helpers/until.ts';

export const KEY = 'fault-pseudonym-key-0123456789';
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const catalogue = loadCatalogue();

export const QUEUES: QueueRef[] = [
  { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' },
  { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car' },
  { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' },
  { crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'truck' },
];

/** A realistic DES stream for one queue: ~3 events per vehicle at `ratePerHour`, ending before `endMs`. */
export function queueStream(q: QueueRef, seed: number, opts: { endMs: number; durationMs: number; ratePerHour: number }): KezekEvent[] {
  const startMs = opts.endMs - opts.durationMs;
  const spec: ScenarioSpec = {
    ...q,
    startMs,
    durationMs: opts.durationMs,
    seed,
    arrivalRatePerHour: (t) => (t - startMs < opts.durationMs / 2 ? opts.ratePerHour : opts.ratePerHour * 0.7),
    maxArrivalRatePerHour: opts.ratePerHour,
    // within every QUEUES entry's lanesMax (korday truck: 4): more is refused as a wrong report
    lanes: [{ atMs: startMs, value: 3 }, { atMs: startMs + opts.durationMs / 3, value: 4 }],
    serviceTimeMeanSeconds: (3600 * 3 * 0.9) / opts.ratePerHour,
    serviceTimeScv: 1,
    patienceMeanMinutes: 90,
    observationEveryMs: 30 * MIN,
    probeEveryMs: 0,
    initialQueue: 5,
    reportArrivalProbability: 0.95,
    closures: [{ fromMs: startMs + opts.durationMs / 2, toMs: startMs + opts.durationMs / 2 + 20 * MIN, announceUntil: true }],
    eventIdPrefix: `${q.direction}-${q.vehicleClass}-${seed}`,
    vehicleRefPrefix: `01KZ${seed}`,
  };
  return simulateQueue(spec).events;
}

/** About `total` events over QUEUES, ending an hour before now (so nothing is "in the future"). */
export function heavyStream(total: number, seed = 7, endMs = Date.now() - HOUR): KezekEvent[] {
  const ratePerHour = 240;
  const perQueue = total / QUEUES.length;
  const durationMs = Math.max(HOUR, Math.round((perQueue / (ratePerHour * 2.9)) * HOUR));
  return QUEUES.flatMap((q, i) => queueStream(q, seed + i, { endMs, durationMs, ratePerHour }));
}

/** Publishes with msgID = eventId, a window of acks in flight. */
export async function publishEvents(nc: NatsConnection, prefix: string, events: readonly KezekEvent[], window = 256): Promise<void> {
  const js = jetstream(nc);
  const s = subjects(prefix);
  for (let i = 0; i < events.length; i += window) {
    await Promise.all(events.slice(i, i + window).map((e) => js.publish(subjectForEvent(s, e), JSON.stringify(e), { msgID: e.eventId })));
  }
}

/** What the estimator stores for an event: validated against the contract, vehicle ref pseudonymised. */
export function asStored(ev: KezekEvent): KezekEvent {
  const res = validateEvent(JSON.parse(JSON.stringify(ev)), { catalogue, now: Date.now() });
  if (!res.ok) throw new Error(`fixture event ${ev.eventId} is invalid: ${JSON.stringify(res.issues)}`);
  return pseudonymiseEvent(res.event as KezekEvent & { vehicleRef?: string }, KEY);
}

/** The reference: every event of the log applied once, directly, under a fresh prefix (any order gives the same state). */
export async function referenceStore(redis: Redis, prefix: string, events: readonly KezekEvent[]): Promise<QueueStore> {
  const store = createQueueStore({ redis, prefix });
  for (let i = 0; i < events.length; i += 2000) await Promise.all(events.slice(i, i + 2000).map((e) => store.applyEvent(asStored(e))));
  await store.markInitialised();
  return store;
}

const TIMING_KEYS = /:(est|hest|initialised|queues)$/;

/** Canonical dump of a prefix's event-derived state, with the prefix replaced by `P`. */
export async function eventState(redis: Redis, prefix: string): Promise<Record<string, DumpValue>> {
  const root = createQueueStore({ redis, prefix }).keys.root;
  const d = await dumpKeys(redis, root, { exclude: TIMING_KEYS });
  const out: Record<string, DumpValue> = {};
  for (const [k, v] of Object.entries(d)) {
    const key = k.replace(prefix, 'P');
    out[key] = k.endsWith(':hist') && !Array.isArray(v) && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([f]) => !f.endsWith(':e'))) : v;
  }
  return out;
}

/** Number of applied eventIds (ZCARD of the per-crossing id sets). */
export async function appliedCount(redis: Redis, prefix: string): Promise<number> {
  const keys = createQueueStore({ redis, prefix }).keys;
  let n = 0;
  for (const c of new Set(QUEUES.map((q) => q.crossingId))) n += await redis.zcard(keys.crossing(c).ids);
  return n;
}

/** The model's estimate for a queue's window as of tMs (wall-clock independent: nowMs 0). */
export async function modelAt(store: QueueStore, q: QueueRef, tMs: number): Promise<QueueEstimate> {
  const window = await store.readWindow(q, tMs, MODEL_LOOKBACK_MS);
  return computeEstimate(window, { profile: catalogue.profile(q.crossingId, q.vehicleClass)!, localZone: catalogue.localZone(q.crossingId)!, staleAfterMs: 15 * MIN, nowMs: 0, revision: 0 });
}

export interface ServiceEnv {
  natsUrl: string;
  redisUrl: string;
  prefix: string;
  [k: string]: string;
}

/** Runs `tsx services/estimator/main.ts` as a child process following its JSON logs. */
export function spawnEstimator(env: ServiceEnv): StartProcess {
  const { natsUrl, redisUrl, prefix, ...rest } = env;
  return runStart({
    cwd: process.cwd(),
    script: 'services/estimator/main.ts',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NATS_URL: natsUrl, REDIS_URL: redisUrl, KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'info', ...rest },
  });
}

/** Runs the documented `rebuild` command (`tsx services/estimator/main.ts rebuild`) and resolves with its exit code and output. */
export async function runRebuildCommand(env: ServiceEnv): Promise<{ code: number | null; output: string }> {
  const { spawn } = await import('node:child_process');
  const { natsUrl, redisUrl, prefix, ...rest } = env;
  const proc = spawn(process.execPath, ['--import', 'tsx', 'services/estimator/main.ts', 'rebuild'], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NATS_URL: natsUrl, REDIS_URL: redisUrl, KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'info', ...rest },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  return { code, output };
}

/** Pending + unacked messages of the estimator's durable consumer (null when it does not exist). */
export async function consumerBacklog(nc: NatsConnection, prefix: string): Promise<number | null> {
  const s = subjects(prefix);
  try {
    const info = await (await jetstreamManager(nc)).consumers.info(s.eventsStream, s.estimatorDurable);
    return info.num_pending + info.num_ack_pending;
  } catch {
    return null;
  }
}

/** test/helpers/until.ts with the fault tests' patience: a minute, every 100 ms. */
export const until = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> => pollUntil(what, fn, timeoutMs, everyMs);
