/**
 * Accuracy benchmark scenarios: each is a ScenarioSpec for the DES (shared/sim/des.ts), one simulated day at
 * Korday (KZ-KG). Times are built from local midnight in Almaty (UTC+5) so "rush hour" means the local morning.
 * True service times deliberately differ from the catalogue priors in some scenarios, so the model has to learn them.
 */
import type { ScenarioSpec, Step } from '../../shared/sim/des.ts';

const H = 3_600_000;
/** Monday 2026-11-16 00:00 in Asia/Almaty (UTC+5). */
export const DAY0_MS = Date.UTC(2026, 10, 15, 19, 0, 0);
const at = (hours: number): number => DAY0_MS + hours * H;
const steps = (...pairs: [number, number][]): Step[] => pairs.map(([h, value]) => ({ atMs: at(h), value }));

/** Piecewise-linear rate through (hour, perHour) points. */
function ramp(points: [number, number][]): (t: number) => number {
  return (t) => {
    const h = (t - DAY0_MS) / H;
    if (h <= points[0]![0]) return points[0]![1];
    for (let i = 1; i < points.length; i++) {
      const [h1, r1] = points[i]!;
      const [h0, r0] = points[i - 1]!;
      if (h <= h1) return r0 + ((r1 - r0) * (h - h0)) / (h1 - h0);
    }
    return points[points.length - 1]![1];
  };
}

export interface Scenario {
  name: string;
  description: string;
  /** Built per seed. */
  spec: (seed: number) => ScenarioSpec;
  /** Accuracy is compared against QL-with-true-rate on this scenario (the steady case). */
  compareWithQl?: boolean;
}

const base = { crossingId: 'korday', direction: 'KZ-KG', startMs: DAY0_MS, durationMs: 24 * H, probeEveryMs: 5 * 60_000 } as const;

export const SCENARIOS: Scenario[] = [
  {
    name: 'steady',
    description: 'cars, 6 lanes, rho ~0.85 all day, service 10% slower than the catalogue prior',
    compareWithQl: true,
    spec: (seed) => ({
      ...base,
      vehicleClass: 'car',
      seed,
      arrivalRatePerHour: () => 0.85 * 6 * (3600 / 132),
      maxArrivalRatePerHour: 0.85 * 6 * (3600 / 132),
      lanes: steps([0, 6]),
      serviceTimeMeanSeconds: 132,
      serviceTimeScv: 1,
    }),
  },
  {
    name: 'rush-hour',
    description: 'cars, morning ramp 40 -> 260/h, lanes 4 -> 6 -> 8 as it builds, back to 4 in the evening',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'car',
      seed,
      arrivalRatePerHour: ramp([[0, 40], [6, 60], [8, 240], [10, 260], [13, 150], [17, 200], [20, 80], [24, 40]]),
      maxArrivalRatePerHour: 260,
      lanes: steps([0, 4], [8.5, 6], [9.5, 8], [19, 6], [21, 4]),
      serviceTimeMeanSeconds: 120,
      serviceTimeScv: 1,
    }),
  },
  {
    name: 'neighbour-surge',
    description: 'trucks, a closed neighbouring crossing diverts traffic: 16/h -> 40/h for 4 h on 4 lanes (cap 24/h)',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'truck',
      seed,
      arrivalRatePerHour: (t) => {
        const h = (t - DAY0_MS) / H;
        return h >= 9 && h < 13 ? 40 : 16;
      },
      maxArrivalRatePerHour: 40,
      lanes: steps([0, 4]),
      serviceTimeMeanSeconds: 600,
      serviceTimeScv: 0.8,
      patienceMeanMinutes: 720,
    }),
  },
  {
    name: 'lane-closure',
    description: 'trucks, 20/h on 4 lanes; 2 lanes close 10:00-14:00 (reported), service 15% faster than prior',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'truck',
      seed,
      arrivalRatePerHour: () => 20,
      maxArrivalRatePerHour: 20,
      lanes: steps([0, 4], [10, 2], [14, 4]),
      serviceTimeMeanSeconds: 510,
      serviceTimeScv: 0.8,
      patienceMeanMinutes: 720,
    }),
  },
  {
    name: 'overnight-closure',
    description: 'cars, crossing closed 00:00-06:00 with the reopening announced; arrivals keep queueing overnight',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'car',
      seed,
      arrivalRatePerHour: ramp([[0, 30], [5, 60], [8, 160], [12, 150], [18, 140], [24, 60]]),
      maxArrivalRatePerHour: 160,
      lanes: steps([0, 6]),
      serviceTimeMeanSeconds: 120,
      serviceTimeScv: 1,
      closures: [{ fromMs: at(0), toMs: at(6), announceUntil: true }],
    }),
  },
  {
    name: 'abandonment',
    description: 'cars, overload (rho ~1.55) 8:00-14:00, patience 40 min, only half of abandonments reported',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'car',
      seed,
      arrivalRatePerHour: ramp([[0, 60], [7, 100], [8, 280], [14, 280], [15, 120], [24, 60]]),
      maxArrivalRatePerHour: 280,
      lanes: steps([0, 6]),
      serviceTimeMeanSeconds: 120,
      serviceTimeScv: 1,
      patienceMeanMinutes: 40,
      reportAbandonProbability: 0.5,
    }),
  },
  {
    name: 'missing-arrivals',
    description: 'cars, ramp with 30% of arrivals unreported; an officer counts the queue every 30 min',
    spec: (seed) => ({
      ...base,
      vehicleClass: 'car',
      seed,
      arrivalRatePerHour: ramp([[0, 50], [7, 80], [9, 230], [12, 230], [13, 170], [18, 150], [24, 50]]),
      maxArrivalRatePerHour: 230,
      lanes: steps([0, 6]),
      serviceTimeMeanSeconds: 120,
      serviceTimeScv: 1,
      reportArrivalProbability: 0.7,
      observationEveryMs: 30 * 60_000,
    }),
  },
];

export const DEFAULT_SEEDS = [1, 2, 3];
