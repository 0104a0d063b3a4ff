import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CatalogueSchema, CrossingSchema, DEFAULT_CATALOGUE_PATH, loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import { buildQueueScenario } from '../../shared/sim/profile.ts';

const offsetOf = (zone: string, iso: string) =>
  new Intl.DateTimeFormat('en', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(new Date(iso))
    .find((p) => p.type === 'timeZoneName')!.value;

describe('seeds/crossings.json', () => {
  const raw = JSON.parse(readFileSync(DEFAULT_CATALOGUE_PATH, 'utf8')) as { crossings: unknown[] };

  it('validates as a whole and crossing by crossing', () => {
    expect(CatalogueSchema.safeParse(raw).success).toBe(true);
    for (const c of raw.crossings) {
      const res = CrossingSchema.safeParse(c);
      expect(res.success, `${(c as { id: string }).id}: ${JSON.stringify(res.error?.issues)}`).toBe(true);
    }
  });

  it('includes the main crossings to Kyrgyzstan, Uzbekistan and China with their neighbour names', () => {
    const cat = loadCatalogue();
    const expectPair = (id: string, neighbour: string, country: string) => {
      const c = cat.get(id);
      expect(c, id).toBeDefined();
      expect(c!.neighbourName.en).toBe(neighbour);
      expect(c!.countries).toContain(country);
    };
    expectPair('korday', 'Ak-Zhol', 'KG');
    expectPair('karasu', 'Ak-Tilek', 'KG');
    expectPair('kegen', 'Karkyra', 'KG');
    expectPair('zhibek-zholy', 'Gisht-Kuprik', 'UZ');
    expectPair('kazygurt', 'S. Najimov', 'UZ');
    expectPair('tazhen', 'Daut-Ata', 'UZ');
    expectPair('nur-zholy', 'Khorgos', 'CN');
    expectPair('bakhty', 'Baketu', 'CN');
    expectPair('dostyk', 'Alashankou', 'CN');
  });

  it('every crossing has names in English, Russian (Cyrillic) and Kazakh (Cyrillic), and cites sources', () => {
    const cat = loadCatalogue();
    for (const c of cat.crossings) {
      expect(c.names.en).toMatch(/^[A-Za-z .'-]+$/);
      expect(c.names.ru).toMatch(/[А-Яа-яЁё]/);
      expect(c.names.kk).toMatch(/[А-Яа-яЁёӘәҒғҚқҢңӨөҰұҮүҺһІі]/);
      expect(c.sources.length).toBeGreaterThan(0);
      for (const s of c.sources) expect(s.url ?? s.note).toBeTruthy();
    }
  });

  it('Asia/Almaty is UTC+05:00 in 2026 (Kazakhstan unified on UTC+5 on 1 March 2024)', () => {
    expect(offsetOf('Asia/Almaty', '2026-01-15T12:00:00Z')).toBe('GMT+05:00');
    expect(offsetOf('Asia/Almaty', '2026-07-15T12:00:00Z')).toBe('GMT+05:00');
    expect(offsetOf('Asia/Bishkek', '2026-07-15T12:00:00Z')).toBe('GMT+06:00');
    expect(offsetOf('Asia/Tashkent', '2026-07-15T12:00:00Z')).toBe('GMT+05:00');
    expect(offsetOf('Asia/Shanghai', '2026-07-15T12:00:00Z')).toBe('GMT+08:00');
    for (const c of loadCatalogue().crossings) expect(c.timeZones.KZ).toBe('Asia/Almaty');
  });

  it('every class profile is marked as an estimate and its daily load fits its daily capacity', () => {
    for (const c of loadCatalogue().crossings) {
      const openHours =
        c.operatingHours.mode === '24h'
          ? 24
          : (Number(c.operatingHours.close.slice(0, 2)) - Number(c.operatingHours.open.slice(0, 2)) + 24) % 24 || 24;
      for (const p of c.classProfiles) {
        expect(p.estimate, `${c.id}/${p.vehicleClass}`).toBe(true);
        expect(p.lanesTypical).toBeLessThanOrEqual(p.lanesMax);
        const daily = p.hourlyArrivals.reduce((a, b) => a + b, 0) * Math.max(...p.weekdayFactors);
        const capacity = (p.lanesTypical * openHours * 3600) / p.serviceTimeMeanSeconds;
        expect(daily / capacity, `${c.id}/${p.vehicleClass} daily utilisation`).toBeLessThan(1);
      }
    }
  });

  it("the simulator's lanes stay between 1 and the class's lanesMax on every queue, and the sample day passes the contract", () => {
    // ingest and the estimator refuse a lane count above lanesMax, and 0 lanes publishes no wait figure: the
    // simulated traffic must never do either by accident
    const cat = loadCatalogue();
    const startMs = Date.UTC(2026, 10, 16);
    for (const q of cat.queues()) {
      const { lanes } = buildQueueScenario({ catalogue: cat, ...q, seed: 1, startMs, durationMs: 7 * 24 * 3600_000 });
      const lanesMax = cat.profile(q.crossingId, q.vehicleClass)!.lanesMax;
      for (const step of lanes) {
        expect(step.value, `${q.crossingId}/${q.direction}/${q.vehicleClass}`).toBeGreaterThanOrEqual(1);
        expect(step.value, `${q.crossingId}/${q.direction}/${q.vehicleClass}`).toBeLessThanOrEqual(lanesMax);
      }
    }
    const lines = readFileSync(new URL('../../seeds/sample-day.ndjson', import.meta.url), 'utf8').split('\n').filter((l) => l.trim());
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      const res = validateEvent(JSON.parse(line), { catalogue: cat, now: Infinity });
      expect(res.ok, line).toBe(true);
    }
  });
});
