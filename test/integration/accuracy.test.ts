import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { simulateQueue, type ScenarioSpec } from '../../shared/sim/des.ts';
import { inProcessEstimator, scoreRows, summarise, type ProbeRow } from '../../bench/accuracy/score.ts';

const H = 3_600_000;
const START = Date.parse('2026-11-16T01:00:00Z');

/** Trucks at Korday: arrivals ramp from 12/h to 40/h against a capacity of 24/h, then fall back: a queue builds and drains. */
const ramp = (seed: number): ScenarioSpec => ({
  crossingId: 'korday',
  direction: 'KZ-KG',
  vehicleClass: 'truck',
  startMs: START,
  durationMs: 9 * H,
  seed,
  arrivalRatePerHour: (t) => {
    const h = (t - START) / H;
    return h < 1 ? 12 : h < 4 ? 12 + (28 * (h - 1)) / 3 : h < 5 ? 40 : 10;
  },
  maxArrivalRatePerHour: 40,
  lanes: [{ atMs: START, value: 4 }],
  serviceTimeMeanSeconds: 600,
  serviceTimeScv: 0.8,
  probeEveryMs: 10 * 60_000,
});

describe('accuracy (in-process: reference window -> model)', () => {
  it('on a rush-hour ramp, our estimate beats LES (the posted-wait baseline) by a wide margin', () => {
    const estimate = inProcessEstimator(loadCatalogue());
    const rows: ProbeRow[] = [];
    for (const seed of [11, 12]) {
      const spec = ramp(seed);
      const sim = simulateQueue(spec);
      rows.push(...scoreRows(spec, sim, estimate(spec, sim)));
    }
    const s = summarise('ramp', [11, 12], rows);
    expect(s.probes).toBeGreaterThan(80);
    expect(s.nullEstimates).toBe(0);
    // the queue really builds: otherwise every estimator is right and the comparison means nothing
    expect(s.meanTrueWait).toBeGreaterThan(10 * 60);
    expect(s.ours.mae).toBeLessThan(0.7 * s.les.mae);
    expect(s.ours.mae).toBeLessThan(s.hol.mae);
    expect(s.p90Coverage).toBeGreaterThan(0.7);
  });
});
