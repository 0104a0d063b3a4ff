/**
 * Live traffic simulator: one discrete-event simulation (shared/sim/des.ts) per catalogued queue
 * (crossing x direction x class), advanced together along a simulated clock and published in event-time order
 * through the buffered publisher.
 *
 * Clock. Simulated time starts at `startMs` (default: now at speed 1; now - 24 h when accelerated, so an
 * accelerated run first produces a day of history) and advances at `speed` x wall time until it reaches the wall
 * clock; from then on it follows the wall clock (speed 1). Events are therefore never in the future. With `endMs`
 * the run stops there. The same seed, startMs and catalogue give the same events (eventIds included).
 *
 * Backpressure. When the publisher has more than `pauseWhenBuffered` events waiting for NATS, the simulation
 * pauses instead of overflowing the buffer; each tick advances at most `maxStepMs` of simulated time.
 *
 * Epochs. Lane plans and closures are generated for `epochMs` (default 30 days) at a time; at an epoch boundary
 * every queue restarts with its waiting vehicles as the initial queue (vehicles at a booth at that instant are not
 * reported as crossed). EventIds carry seed, startMs and epoch, so runs with different starts never collide.
 */
import type { Logger } from '../../shared/logger.ts';
import type { Catalogue, VehicleClass } from '../../shared/catalogue/index.ts';
import type { KezekEvent } from '../../shared/events/v1.ts';
import type { EventPublisher } from '../../shared/producer/publisher.ts';
import { createQueueSimulation, type QueueSimulation } from '../../shared/sim/des.ts';
import { buildQueueScenario } from '../../shared/sim/profile.ts';

export interface SimulatorOptions {
  catalogue: Catalogue;
  publisher: Pick<EventPublisher, 'publishMany' | 'stats'>;
  /** Simulated seconds per wall second until simulated time reaches now. */
  speed: number;
  seed: number;
  /** Simulated start (epoch ms); default now (speed 1) or now - 24 h (speed > 1). Clamped to now. */
  startMs?: number;
  /** Stop when simulated time reaches this (epoch ms). Default: run until stop(). */
  endMs?: number;
  logger: Logger;
  /** Only these crossing ids (default: every crossing of the catalogue). */
  crossings?: string[];
  /** Wall clock; injectable for tests. */
  now?: () => number;
  tickMs?: number;
  /** Progress lines: every this often while catching up (default 10 s), three times as seldom once live. */
  progressEveryMs?: number;
  maxStepMs?: number;
  epochMs?: number;
  pauseWhenBuffered?: number;
  /** Share of abandonments that are reported (default 0.5: people leaving a line are rarely seen). */
  reportAbandonProbability?: number;
  /** Share of arrivals that are reported (default 1). */
  reportArrivalProbability?: number;
  /** queue.observed period per queue (default 20 min). */
  observationEveryMs?: number;
}

export interface SimulatorStats {
  simulatedMs: number;
  /** How far simulated time is behind the wall clock. */
  lagMs: number;
  eventsPublished: number;
  queues: number;
  paused: boolean;
}

export interface Simulator {
  start(): void;
  /** Stops after the current tick; idempotent. */
  stop(): Promise<void>;
  /** Resolves when the run ends (endMs reached or stop()). */
  finished(): Promise<void>;
  stats(): SimulatorStats;
}

export class SimulatorConfigError extends Error {
  readonly code = 'SIMULATOR_CONFIG';
}

const DAY_MS = 24 * 3_600_000;

interface QueueRun {
  crossingId: string;
  direction: string;
  vehicleClass: VehicleClass;
  sim: QueueSimulation;
}

export function createSimulator(opts: SimulatorOptions): Simulator {
  const log = opts.logger.child({ component: 'simulator' });
  const now = opts.now ?? Date.now;
  if (!(opts.speed > 0)) throw new SimulatorConfigError(`speed must be > 0 (got ${opts.speed})`);
  const unknown = (opts.crossings ?? []).filter((id) => !opts.catalogue.has(id));
  if (unknown.length) throw new SimulatorConfigError(`unknown crossing(s): ${unknown.join(', ')} (known: ${opts.catalogue.crossings.map((c) => c.id).join(', ')})`);
  const wanted = opts.crossings?.length ? new Set(opts.crossings) : undefined;
  const queues = opts.catalogue.queues().filter((q) => !wanted || wanted.has(q.crossingId));
  if (queues.length === 0) throw new SimulatorConfigError('no queues to simulate');

  const wall0 = now();
  const startMs = Math.min(opts.startMs ?? (opts.speed > 1 ? wall0 - DAY_MS : wall0), wall0);
  const tickMs = opts.tickMs ?? 250;
  const maxStepMs = opts.maxStepMs ?? 5 * 60_000;
  const epochMs = opts.epochMs ?? 30 * DAY_MS;
  const pauseWhenBuffered = opts.pauseWhenBuffered ?? 10_000;
  const runTag = `sim${opts.seed}.${startMs.toString(36)}`;

  let epoch = 0;
  let epochStart = startMs;
  let runs: QueueRun[] = [];
  let simulatedMs = startMs;
  let eventsPublished = 0;
  let paused = false;
  let running = false;
  let stopping = false;
  let loop: Promise<void> | undefined;
  let resolveFinished!: () => void;
  const finishedPromise = new Promise<void>((r) => (resolveFinished = r));
  /** The last progress line: when (wall), where simulated time was, and events published by then. */
  let lastProgress = { wall: now(), simulatedMs: Number.NaN, events: 0 };

  function buildEpoch(initial?: Map<string, number>) {
    runs = queues.map((q) => {
      const qkey = `${q.crossingId}:${q.direction}:${q.vehicleClass}`;
      const spec = buildQueueScenario({
        catalogue: opts.catalogue,
        ...q,
        seed: opts.seed,
        startMs: epochStart,
        durationMs: epochMs,
        reportAbandonProbability: opts.reportAbandonProbability ?? 0.5,
        reportArrivalProbability: opts.reportArrivalProbability ?? 1,
        observationEveryMs: opts.observationEveryMs,
        initialQueue: initial?.get(qkey) ?? 0,
        eventIdPrefix: `${runTag}.e${epoch}:${qkey}`,
        vehicleRefPrefix: `SIM-${runTag}.e${epoch}-${qkey}-`,
        source: 'simulator',
      });
      return { ...q, sim: createQueueSimulation(spec, { retainHistory: false }) };
    });
  }

  /** Where simulated time should be now: accelerated until it meets the wall clock, then the wall clock. */
  const targetMs = () => {
    const wall = now();
    const t = Math.min(startMs + (wall - wall0) * opts.speed, wall);
    return opts.endMs === undefined ? t : Math.min(t, opts.endMs);
  };

  async function tick(): Promise<boolean> {
    if (opts.publisher.stats().buffered > pauseWhenBuffered) {
      if (!paused) log.warn({ buffered: opts.publisher.stats().buffered }, 'publisher backlog too large (NATS unavailable?); simulation paused');
      paused = true;
      return false;
    }
    if (paused) log.info('publisher backlog reduced; simulation resumed');
    paused = false;
    let target = Math.min(targetMs(), simulatedMs + maxStepMs);
    if (target <= simulatedMs) return false;
    if (target >= epochStart + epochMs) target = epochStart + epochMs;

    const batch: { ev: KezekEvent; t: number; q: number; i: number }[] = [];
    runs.forEach((r, q) => {
      r.sim.advanceTo(target - 1).forEach((ev, i) => batch.push({ ev, t: Date.parse(ev.occurredAt), q, i }));
    });
    batch.sort((a, b) => a.t - b.t || a.q - b.q || a.i - b.i);
    if (batch.length) {
      await opts.publisher.publishMany(batch.map((b) => b.ev));
      eventsPublished += batch.length;
    }
    simulatedMs = target;

    if (simulatedMs >= epochStart + epochMs) {
      const waiting = new Map(runs.map((r) => [`${r.crossingId}:${r.direction}:${r.vehicleClass}`, r.sim.waiting]));
      epoch++;
      epochStart += epochMs;
      buildEpoch(waiting);
      log.info({ epoch, epochStart: new Date(epochStart).toISOString() }, 'simulator epoch rolled over');
    }
    const wall = now();
    if (Number.isNaN(lastProgress.simulatedMs)) lastProgress = { wall, simulatedMs, events: eventsPublished };
    // every 10 s while catching up (accelerated), every 30 s once live
    const goal = opts.endMs ?? wall;
    const behindMs = Math.max(0, goal - simulatedMs);
    const every = opts.progressEveryMs ?? 10_000;
    if (wall - lastProgress.wall >= (behindMs > 60_000 ? every : 3 * every)) {
      const spanMs = wall - lastProgress.wall;
      const rate = (simulatedMs - lastProgress.simulatedMs) / spanMs; // simulated ms per wall ms
      // the gap to `now` also grows by 1 ms per ms; a fixed --end does not move
      const closing = rate - (opts.endMs === undefined ? 1 : 0);
      log.info(
        {
          simulatedAt: new Date(simulatedMs).toISOString(),
          behindSeconds: Math.round(behindMs / 1000),
          speed: Math.round(rate * 10) / 10,
          eventsPublished,
          eventsPerSecond: Math.round(((eventsPublished - lastProgress.events) * 1000) / spanMs),
          etaSeconds: behindMs > 60_000 && closing > 0 ? Math.round(behindMs / closing / 1000) : undefined,
          buffered: opts.publisher.stats().buffered,
        },
        behindMs > 60_000 ? `simulator catching up to ${opts.endMs === undefined ? 'now' : '--end'}` : 'simulator progress',
      );
      lastProgress = { wall, simulatedMs, events: eventsPublished };
    }
    return target < targetMs();
  }

  async function runLoop(): Promise<void> {
    try {
      while (running && !stopping) {
        let behind = false;
        try {
          behind = await tick();
        } catch (err) {
          if ((err as { code?: string }).code === 'CLOSED') {
            log.warn('publisher closed; simulator stops');
            break;
          }
          // BUFFER_FULL despite the pause threshold: this batch is partly lost; say so loudly and keep going.
          log.error({ err }, 'publishing simulated events failed');
        }
        if (opts.endMs !== undefined && simulatedMs >= opts.endMs) break;
        if (!behind) await new Promise((r) => setTimeout(r, tickMs));
      }
    } finally {
      running = false;
      log.info({ simulatedAt: new Date(simulatedMs).toISOString(), eventsPublished }, 'simulator stopped');
      resolveFinished();
    }
  }

  buildEpoch();

  return {
    start() {
      if (running || stopping) return;
      running = true;
      log.info(
        { queues: runs.length, speed: opts.speed, seed: opts.seed, startAt: new Date(startMs).toISOString(), endAt: opts.endMs ? new Date(opts.endMs).toISOString() : undefined },
        'simulator started',
      );
      loop = runLoop();
    },
    async stop() {
      stopping = true;
      if (loop) await loop;
      else resolveFinished();
    },
    finished: () => finishedPromise,
    stats: () => ({ simulatedMs, lagMs: Math.max(0, now() - simulatedMs), eventsPublished, queues: runs.length, paused }),
  };
}
