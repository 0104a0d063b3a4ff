/**
 * Fixtures of the queue-store property tests (order-independence, window-delta): a small two-hour-ish DES scenario of
 * one queue, and a seeded PRNG for shuffled deliveries (fast-check supplies the seed, so failures shrink and replay).
 */
import type { ScenarioSpec } from '../../shared/sim/des.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';

const MIN = 60_000;

/** A queue with observations, abandonment, a lane change and 10-15 % unreported arrivals; `over` replaces any field. */
export function storeScenario(q: QueueRef, seed: number, startMs: number, over: Partial<ScenarioSpec> = {}): ScenarioSpec {
  return {
    ...q,
    startMs,
    durationMs: 90 * MIN,
    seed,
    arrivalRatePerHour: (t) => (t < startMs + 45 * MIN ? 70 : 40),
    maxArrivalRatePerHour: 70,
    lanes: [{ atMs: startMs, value: 1 }, { atMs: startMs + 40 * MIN, value: 2 }],
    serviceTimeMeanSeconds: 75,
    serviceTimeScv: 1,
    patienceMeanMinutes: 30,
    observationEveryMs: 20 * MIN,
    probeEveryMs: 0,
    initialQueue: 3,
    reportArrivalProbability: 0.9,
    closures: [],
    eventIdPrefix: `${q.direction}-${seed}`,
    vehicleRefPrefix: `V${seed}-`,
    ...over,
  };
}

/** Deterministic PRNG in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
