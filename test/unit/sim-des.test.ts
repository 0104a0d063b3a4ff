import { describe, expect, it } from 'vitest';
import { simulateQueue, stepValueAt, type ScenarioSpec, type SimVehicle } from '../../shared/sim/des.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import { createRng, gammaByMeanScv } from '../../shared/sim/random.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 2, 10, 0, 0, 0);

const base = (over: Partial<ScenarioSpec> = {}): ScenarioSpec => ({
  crossingId: 'korday',
  direction: 'KZ-KG',
  vehicleClass: 'car',
  startMs: T0,
  durationMs: 24 * HOUR,
  seed: 7,
  arrivalRatePerHour: () => 30,
  maxArrivalRatePerHour: 30,
  lanes: [{ atMs: T0, value: 1 }],
  serviceTimeMeanSeconds: 60,
  serviceTimeScv: 1,
  probeEveryMs: 5 * 60_000,
  ...over,
});

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const waitsOf = (vs: SimVehicle[]) => vs.filter((v) => v.serviceStartMs !== undefined).map((v) => (v.serviceStartMs! - v.arrivedMs) / 1000);

describe('DES of one queue', () => {
  it('is deterministic by seed and differs across seeds', () => {
    const spec = base({ observationEveryMs: 15 * 60_000, patienceMeanMinutes: 20, reportArrivalProbability: 0.8 });
    const a = simulateQueue(spec);
    const b = simulateQueue(spec);
    expect(b).toEqual(a);
    const c = simulateQueue({ ...spec, seed: 8 });
    expect(c.events.length).not.toBe(0);
    expect(c.vehicles.map((v) => v.arrivedMs)).not.toEqual(a.vehicles.map((v) => v.arrivedMs));
  });

  it('emits valid, time-ordered contract events with unique deterministic ids', () => {
    const catalogue = loadCatalogue();
    const res = simulateQueue(
      base({
        patienceMeanMinutes: 10,
        arrivalRatePerHour: (t) => (t < T0 + 12 * HOUR ? 70 : 20),
        maxArrivalRatePerHour: 70,
        lanes: [{ atMs: T0, value: 1 }, { atMs: T0 + 6 * HOUR, value: 2 }],
        observationEveryMs: 30 * 60_000,
        closures: [{ fromMs: T0 + 2 * HOUR, toMs: T0 + 3 * HOUR, announceUntil: true }],
        initialQueue: 5,
      }),
    );
    const types = new Set(res.events.map((e) => e.type));
    for (const t of ['vehicle.arrived', 'vehicle.service_started', 'vehicle.crossed', 'vehicle.abandoned', 'lanes.changed', 'queue.observed', 'crossing.status']) {
      expect(types.has(t as never), t).toBe(true);
    }
    const now = T0 + 48 * HOUR;
    for (const ev of res.events) {
      const v = validateEvent(ev, { catalogue, now });
      expect(v.ok, JSON.stringify(v)).toBe(true);
      expect(ev.occurredAt.endsWith('Z')).toBe(true);
    }
    const times = res.events.map((e) => Date.parse(e.occurredAt));
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThanOrEqual(times[i - 1]!);
    expect(times.every((t) => t >= T0 && t < T0 + 24 * HOUR)).toBe(true);
    expect(new Set(res.events.map((e) => e.eventId)).size).toBe(res.events.length);
    expect(res.events[0]!.eventId).toBe('korday:KZ-KG:car:7:0');
    expect(res.vehicles[0]!.ref).toBe('SIM-7-0');
    // the initial queue arrives at startMs
    expect(res.vehicles.slice(0, 5).every((v) => v.arrivedMs === T0)).toBe(true);
  });

  it('M/M/1 steady state: mean wait matches Wq = rho / (mu - lambda)', () => {
    // lambda = 30/h, mu = 60/h: rho = 0.5, Wq = 0.5 / 30 h = 60 s. PASTA: probes see the same mean.
    const res = simulateQueue(base({ durationMs: 2000 * HOUR, probeEveryMs: 10 * 60_000 }));
    expect(res.vehicles.length).toBeGreaterThan(55_000);
    expect(mean(waitsOf(res.vehicles))).toBeGreaterThan(54);
    expect(mean(waitsOf(res.vehicles))).toBeLessThan(66);
    expect(mean(res.probes.map((p) => p.trueWaitSeconds))).toBeGreaterThan(52);
    expect(mean(res.probes.map((p) => p.trueWaitSeconds))).toBeLessThan(68);
  });

  it('M/G/1 with gamma service (scv 0.25) matches Pollaczek-Khinchine', () => {
    // Wq = lambda E[S^2] / (2 (1 - rho)); E[S^2] = (1 + scv) E[S]^2 = 4500 s^2; lambda = 1/120 s -> 37.5 s
    const res = simulateQueue(base({ durationMs: 2000 * HOUR, serviceTimeScv: 0.25, probeEveryMs: 0 }));
    const w = mean(waitsOf(res.vehicles));
    expect(w).toBeGreaterThan(34);
    expect(w).toBeLessThan(41);
    expect(res.probes).toHaveLength(0);
  });

  it('gamma sampler has the requested mean and scv', () => {
    const rng = createRng(1, 'test');
    const xs = Array.from({ length: 100_000 }, () => gammaByMeanScv(rng, 10, 0.4));
    const m = mean(xs);
    const scv = mean(xs.map((x) => (x - m) ** 2)) / (m * m);
    expect(m).toBeGreaterThan(9.8);
    expect(m).toBeLessThan(10.2);
    expect(scv).toBeGreaterThan(0.37);
    expect(scv).toBeLessThan(0.43);
  });

  it('probes during a closure wait at least until reopening, and nobody starts service while closed', () => {
    const from = T0 + 10 * HOUR;
    const to = T0 + 11 * HOUR;
    const res = simulateQueue(base({ lanes: [{ atMs: T0, value: 3 }], closures: [{ fromMs: from, toMs: to, announceUntil: true }] }));
    const during = res.probes.filter((p) => p.atMs >= from && p.atMs < to);
    expect(during.length).toBe(12);
    for (const p of during) expect(p.trueWaitSeconds).toBeGreaterThanOrEqual((to - p.atMs) / 1000);
    expect(res.vehicles.some((v) => v.serviceStartMs! >= from && v.serviceStartMs! < to)).toBe(false);
    const statuses = res.events.filter((e) => e.type === 'crossing.status');
    expect(statuses.map((e) => [e.occurredAt, e.type === 'crossing.status' && e.status, e.type === 'crossing.status' && e.until])).toEqual([
      [new Date(from).toISOString(), 'closed', new Date(to).toISOString()],
      [new Date(to).toISOString(), 'open', undefined],
    ]);
  });

  it('abandonment reduces waits (same arrivals and service times)', () => {
    // overloaded for 8 hours: lambda 90/h vs mu 60/h
    const over = (t: number) => (t >= T0 + 6 * HOUR && t < T0 + 14 * HOUR ? 90 : 20);
    const patient = simulateQueue(base({ arrivalRatePerHour: over, maxArrivalRatePerHour: 90 }));
    const impatient = simulateQueue(base({ arrivalRatePerHour: over, maxArrivalRatePerHour: 90, patienceMeanMinutes: 30 }));
    expect(impatient.vehicles.map((v) => v.arrivedMs)).toEqual(patient.vehicles.map((v) => v.arrivedMs));
    const abandoned = impatient.vehicles.filter((v) => v.abandonedMs !== undefined);
    expect(abandoned.length).toBeGreaterThan(50);
    expect(impatient.events.filter((e) => e.type === 'vehicle.abandoned')).toHaveLength(abandoned.length);
    const pw = mean(patient.probes.map((p) => p.trueWaitSeconds));
    const iw = mean(impatient.probes.map((p) => p.trueWaitSeconds));
    expect(iw).toBeLessThan(pw * 0.7);
    for (const v of abandoned) expect(v.serviceStartMs).toBeUndefined();
  });

  it('reportArrivalProbability < 1 drops arrival events but not the ground truth', () => {
    const full = simulateQueue(base({ patienceMeanMinutes: 15 }));
    const partial = simulateQueue(base({ patienceMeanMinutes: 15, reportArrivalProbability: 0.5, reportAbandonProbability: 0.3 }));
    expect(partial.vehicles).toEqual(full.vehicles);
    expect(partial.probes).toEqual(full.probes);
    const arrivedFull = full.events.filter((e) => e.type === 'vehicle.arrived').length;
    const arrivedPartial = partial.events.filter((e) => e.type === 'vehicle.arrived').length;
    expect(arrivedFull).toBe(full.vehicles.filter((v) => v.arrivedMs < T0 + 24 * HOUR).length);
    expect(arrivedPartial / arrivedFull).toBeGreaterThan(0.4);
    expect(arrivedPartial / arrivedFull).toBeLessThan(0.6);
    const count = (r: typeof full, type: string) => r.events.filter((e) => e.type === type).length;
    expect(count(partial, 'vehicle.service_started')).toBe(count(full, 'vehicle.service_started'));
    expect(count(partial, 'vehicle.abandoned')).toBeLessThan(count(full, 'vehicle.abandoned'));
  });

  it('serves FIFO, never exceeds the open lanes, and lets a closing lane finish its vehicle', () => {
    const cut = T0 + 8 * HOUR;
    const lanes = [{ atMs: T0, value: 3 }, { atMs: cut, value: 1 }, { atMs: T0 + 16 * HOUR, value: 2 }];
    // overloaded before the cut so all three booths are busy when two of them close
    const rate = (t: number) => (t < cut ? 200 : 50);
    const res = simulateQueue(base({ lanes, arrivalRatePerHour: rate, maxArrivalRatePerHour: 200, serviceTimeScv: 0.5 }));
    const served = res.vehicles.filter((v) => v.serviceStartMs !== undefined);
    for (let i = 1; i < served.length; i++) expect(served[i]!.serviceStartMs!).toBeGreaterThanOrEqual(served[i - 1]!.serviceStartMs!);
    for (const v of served) {
      const s = v.serviceStartMs!;
      const inService = served.filter((o) => o.serviceStartMs! <= s && o.departMs! > s).length;
      expect(inService).toBeLessThanOrEqual(stepValueAt(lanes, s));
    }
    // vehicles at a booth when lanes drop 3 -> 1 finish their service after the cut
    expect(served.filter((v) => v.serviceStartMs! < cut && v.departMs! > cut).length).toBeGreaterThanOrEqual(2);
  });

  it('lanes.changed reports reportedLanes (which may be wrong), at start and at each step', () => {
    const res = simulateQueue(
      base({
        lanes: [{ atMs: T0, value: 2 }],
        reportedLanes: [{ atMs: T0, value: 3 }, { atMs: T0 + 5 * HOUR, value: 1 }, { atMs: T0 + 30 * HOUR, value: 4 }],
      }),
    );
    const lanes = res.events.flatMap((e) => (e.type === 'lanes.changed' ? [[e.occurredAt, e.lanesOpen]] : []));
    expect(lanes).toEqual([
      [new Date(T0).toISOString(), 3],
      [new Date(T0 + 5 * HOUR).toISOString(), 1],
    ]);
  });

  it('queue.observed carries the true waiting count', () => {
    const res = simulateQueue(base({ initialQueue: 12, observationEveryMs: HOUR, lanes: [{ atMs: T0, value: 0 }, { atMs: T0 + 1, value: 1 }] }));
    const obs = res.events.filter((e) => e.type === 'queue.observed');
    expect(obs).toHaveLength(24);
    expect(obs[0]!.type === 'queue.observed' && obs[0]!.queueLength).toBe(12);
    for (const o of obs) {
      if (o.type !== 'queue.observed') continue;
      const t = Date.parse(o.occurredAt);
      const truth = res.vehicles.filter((v) => v.arrivedMs <= t && (v.serviceStartMs ?? Infinity) > t && (v.abandonedMs ?? Infinity) > t).length;
      expect(o.queueLength).toBe(truth);
    }
  });

  it('simulates a busy day of ~5,000 vehicles', () => {
    const res = simulateQueue(base({ arrivalRatePerHour: () => 210, maxArrivalRatePerHour: 210, lanes: [{ atMs: T0, value: 4 }], patienceMeanMinutes: 120 }));
    expect(res.vehicles.length).toBeGreaterThan(4500);
    expect(res.events.length).toBeGreaterThan(3 * 4500);
  });

  it('rejects a rate above the thinning bound', () => {
    expect(() => simulateQueue(base({ arrivalRatePerHour: () => 40 }))).toThrow(/exceeds maxArrivalRatePerHour/);
  });
});
