import { describe, expect, it } from 'vitest';
import { loadCatalogue, type ClassProfile } from '../../shared/catalogue/index.ts';
import { bestTimes, createFluidModel, noWaitReason, type FluidContext, type FluidState } from '../../shared/forecast/fluid.ts';

const flat = (perHour: number): ClassProfile => ({
  vehicleClass: 'truck', lanesTypical: 2, lanesMax: 4, serviceTimeMeanSeconds: 600, serviceTimeScv: 1, hourlyArrivals: Array(24).fill(perHour), weekdayFactors: Array(7).fill(1), estimate: true,
});
const ctx = (profile: ClassProfile, hours: FluidContext['operatingHours'] = { mode: '24h' }): FluidContext => ({ profile, localZone: 'Asia/Almaty', operatingHours: hours });
const NOW = Date.parse('2026-11-23T06:00:00Z'); // Monday 11:00 in Almaty (UTC+5)
const open = (p: Partial<FluidState> = {}): FluidState => ({ nowMs: NOW, queueLength: 0, lanesOpen: 2, waitSeconds: null, status: 'open', statusUntilMs: null, ...p });

describe('fluid forecast', () => {
  it('an empty, under-loaded queue stays empty: joining now or later waits about nothing', () => {
    const m = createFluidModel(ctx(flat(6)), open()); // 6/h arrive, capacity 12/h
    expect(m.at(NOW).waitSeconds).toBe(0);
    expect(m.at(NOW + 3 * 3600_000).queueLength).toBe(0);
  });

  it('drains a current queue at the live capacity: 24 ahead at 12/h is about 2 h', () => {
    const m = createFluidModel(ctx(flat(0)), open({ queueLength: 24, waitSeconds: 7500 })); // live capacity (24+1)/7500 s = 12/h
    const w = m.at(NOW).waitSeconds!;
    expect(w).toBeGreaterThan(1.8 * 3600);
    expect(w).toBeLessThan(2.2 * 3600);
    // later arrival: the queue has partly drained
    expect(m.at(NOW + 3600_000).waitSeconds!).toBeLessThan(w);
  });

  it('joining now is forecast as the live estimate says, and the difference fades with the horizon', () => {
    // an empty counted queue with a live wait of 132 s (what LES/HOL saw): the flow alone would say 0
    const m = createFluidModel(ctx(flat(6)), open({ queueLength: 0, waitSeconds: 132 }));
    expect(m.at(NOW).waitSeconds).toBe(132);
    expect(m.at(NOW + 4 * 3600_000).waitSeconds!).toBeLessThan(132 * 0.4); // e^-1 of it after CAPACITY_RELAX_MS
    expect(m.at(NOW + 48 * 3600_000).waitSeconds).toBe(0);
    // a live wait below the flow's: the forecast for now is the live one too, never negative later
    const low = createFluidModel(ctx(flat(20)), open({ queueLength: 30, waitSeconds: 600 }));
    expect(low.at(NOW).waitSeconds).toBe(600);
    expect(low.at(NOW + 3600_000).waitSeconds!).toBeGreaterThanOrEqual(0);
    // no live wait, or closed: nothing to anchor to
    expect(createFluidModel(ctx(flat(6)), open()).at(NOW).waitSeconds).toBe(0);
  });

  it('an overloaded queue grows, so a later arrival waits longer', () => {
    const m = createFluidModel(ctx(flat(20)), open({ queueLength: 10, waitSeconds: 3000 }));
    expect(m.at(NOW + 4 * 3600_000).waitSeconds!).toBeGreaterThan(m.at(NOW).waitSeconds!);
  });

  it('includes a known closure: a vehicle joining now waits at least until the reopening', () => {
    const until = NOW + 2 * 3600_000;
    const m = createFluidModel(ctx(flat(6)), open({ status: 'closed', statusUntilMs: until, queueLength: 5 }));
    expect(m.at(NOW).waitSeconds!).toBeGreaterThanOrEqual(2 * 3600);
    // the reopening time is known: the range covers the wait after it, not the closed hours (p10 >= the closure)
    const p = m.at(NOW);
    expect(p.waitP10Seconds!).toBeGreaterThanOrEqual(2 * 3600);
    expect(p.waitP90Seconds! - p.waitSeconds!).toBeLessThan(p.waitSeconds! - 2 * 3600 + 600);
    const empty = createFluidModel(ctx(flat(0)), open({ status: 'closed', statusUntilMs: NOW + 12 * 3600_000, queueLength: 0 }));
    expect(empty.at(NOW).waitP90Seconds!).toBeLessThan(12 * 3600 + 3600); // was 1.5 x 12 h + ...: ~20 h
    expect(m.capacity(NOW + 3600_000)).toBe(0);
    expect(m.capacity(until + 60_000)).toBeGreaterThan(0);
  });

  it('gives no wait figure when closed with no known reopening', () => {
    const m = createFluidModel(ctx(flat(6)), open({ status: 'closed', statusUntilMs: null }));
    expect(m.at(NOW + 3600_000)).toMatchObject({ waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null });
  });

  it('gives no wait figure when no lane is open on an open crossing: no service is forecast until a lane reopens', () => {
    const state = open({ lanesOpen: 0, queueLength: 12 });
    const m = createFluidModel(ctx(flat(6)), state);
    for (const t of [NOW, NOW + 3600_000, NOW + 24 * 3600_000]) {
      expect(m.capacity(t)).toBe(0);
      expect(m.at(t)).toMatchObject({ waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null });
    }
    expect(noWaitReason(state)).toBe('no-lanes-open');
    // restricted with no lane open serves nobody either; a closure with a known reopening still ends
    expect(createFluidModel(ctx(flat(6)), open({ status: 'restricted', lanesOpen: 0 })).at(NOW).waitSeconds).toBeNull();
    const until = NOW + 2 * 3600_000;
    expect(createFluidModel(ctx(flat(6)), open({ status: 'closed', statusUntilMs: until, lanesOpen: 0 })).at(NOW).waitSeconds!).toBeGreaterThanOrEqual(2 * 3600);
  });

  it('respects daily operating hours: arriving after closing waits until the morning', () => {
    const hours = { mode: 'daily' as const, open: '09:00', close: '18:00', timeZone: 'Asia/Almaty' };
    const m = createFluidModel(ctx(flat(0), hours), open());
    const evening = Date.parse('2026-11-23T14:00:00Z'); // 19:00 Almaty
    const w = m.at(evening).waitSeconds!;
    expect(w).toBeGreaterThanOrEqual(14 * 3600 - 60); // until 09:00 next day
    expect(m.at(Date.parse('2026-11-23T05:00:00Z')).waitSeconds).toBe(0); // 10:00 Almaty, open and empty
  });

  it('follows the hour-of-day profile in the local zone', () => {
    const p = flat(0);
    p.hourlyArrivals[11] = 36; // 11:00-12:00 Almaty
    const m = createFluidModel(ctx(p), open());
    expect(m.lambda(NOW + 10 * 60_000) * 3600).toBeCloseTo(36);
    expect(m.lambda(NOW + 70 * 60_000)).toBe(0);
  });

  it('widens the range with the horizon', () => {
    const m = createFluidModel(ctx(flat(0)), open({ queueLength: 24, waitSeconds: 7500 }));
    const near = m.at(NOW);
    const far = createFluidModel(ctx(flat(0)), open({ queueLength: 24, waitSeconds: 7500, nowMs: NOW - 24 * 3600_000 })).at(NOW - 24 * 3600_000);
    expect(near.waitP10Seconds!).toBeLessThan(near.waitSeconds!);
    expect(near.waitP90Seconds!).toBeGreaterThan(near.waitSeconds!);
    const rel = (x: typeof near) => (x.waitP90Seconds! - x.waitP10Seconds!) / x.waitSeconds!;
    const m2 = createFluidModel(ctx(flat(10)), open({ queueLength: 24, waitSeconds: 7500 }));
    expect(rel(m2.at(NOW + 48 * 3600_000))).toBeGreaterThan(rel(m2.at(NOW + 3600_000)));
    expect(far.waitSeconds).toBe(near.waitSeconds);
  });

  it('ranks the next 24 hour slots, best first, for a real seed profile', () => {
    const cat = loadCatalogue();
    const c = cat.crossings.find((x) => x.classProfiles.some((p) => p.vehicleClass === 'truck'))!;
    const m = createFluidModel({ profile: cat.profile(c.id, 'truck')!, localZone: cat.localZone(c.id)!, operatingHours: c.operatingHours }, open({ queueLength: 40, waitSeconds: 4 * 3600 }));
    const now = NOW + 17 * 60_000;
    const { ranked: slots, unavailable } = bestTimes(m, now, 24 * 3600_000);
    // the rest of this hour (joining now), 23 whole hours, and the first 17 minutes of the 24th
    expect(slots).toHaveLength(25);
    expect(unavailable).toEqual([]);
    expect(slots.map((s) => s.rank)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (let i = 1; i < slots.length; i++) expect(slots[i]!.waitSeconds ?? Infinity).toBeGreaterThanOrEqual(slots[i - 1]!.waitSeconds ?? Infinity);
    const byTime = [...slots].sort((a, b) => a.from - b.from);
    expect(byTime[0]!.from).toBe(now);
    expect(byTime[byTime.length - 1]!.to).toBe(now + 24 * 3600_000);
    for (let i = 1; i < byTime.length; i++) {
      expect(byTime[i]!.from).toBe(byTime[i - 1]!.to); // contiguous, no gap or overlap
      expect(byTime[i]!.from % 3600_000).toBe(0);
    }
    // joining now is the forecast for now
    expect(byTime[0]!.waitSeconds).toBe(m.at(now).waitSeconds);
    // a period within one hour is one slot, cut at both ends
    expect(bestTimes(m, now, 10 * 60_000).ranked.map((s) => [s.from, s.to])).toEqual([[now, now + 10 * 60_000]]);
  });

  it('ranks no slot of a queue closed with no known reopening, or with no lane open: no figure is not a short wait', () => {
    for (const state of [open({ status: 'closed', statusUntilMs: null, queueLength: 30 }), open({ lanesOpen: 0, queueLength: 30 })]) {
      const { ranked, unavailable } = bestTimes(createFluidModel(ctx(flat(6)), state), NOW, 24 * 3600_000);
      expect(ranked).toEqual([]);
      // every hour is listed apart, in time order, with no wait figure
      expect(unavailable).toHaveLength(24);
      expect(unavailable.map((s) => s.from)).toEqual(Array.from({ length: 24 }, (_, i) => NOW + i * 3600_000));
      expect(unavailable.every((s) => s.waitSeconds === null && s.waitP90Seconds === null)).toBe(true);
    }
    expect(noWaitReason(open({ status: 'closed', statusUntilMs: null }))).toBe('closed-unknown-reopening');
    // a closure with a known reopening is a wait like any other: every hour is ranked
    const known = bestTimes(createFluidModel(ctx(flat(6)), open({ status: 'closed', statusUntilMs: NOW + 3 * 3600_000, queueLength: 5 })), NOW, 24 * 3600_000);
    expect(known.unavailable).toEqual([]);
    expect(known.ranked).toHaveLength(24);
  });

  it('ranks only the slots with a wait when some have none, and never ahead of them', () => {
    // 2100 ahead at 12/h, nobody arriving: the first hours cannot be served within the 7-day horizon, later ones can
    const m = createFluidModel(ctx(flat(0)), open({ queueLength: 2100 }));
    const { ranked, unavailable } = bestTimes(m, NOW, 24 * 3600_000);
    expect(unavailable.length).toBeGreaterThan(0);
    expect(ranked.length).toBeGreaterThan(0);
    expect(ranked.length + unavailable.length).toBe(24);
    expect(ranked.map((s) => s.rank)).toEqual(Array.from({ length: ranked.length }, (_, i) => i + 1));
    expect(ranked.every((s) => s.waitSeconds !== null)).toBe(true);
    expect(unavailable.every((s) => s.waitSeconds === null)).toBe(true);
    expect(unavailable[0]!.from).toBe(NOW);
    expect(noWaitReason(open({ queueLength: 2100 }))).toBe('beyond-horizon');
  });
});
