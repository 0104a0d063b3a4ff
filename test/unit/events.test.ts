import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';

const catalogue = loadCatalogue();
const now = Date.parse('2026-11-22T06:00:00Z');
const base = { eventId: 'e1', crossingId: 'korday', occurredAt: '2026-11-22T10:00:00+05:00', direction: 'KZ-KG', vehicleClass: 'truck' };

describe('occurredAt: the last day of every month, as the calendar (Date.UTC) has it', () => {
  const farFuture = Date.parse('9999-12-31T23:59:59Z');
  // leap rules (4, 100, 400) and ordinary years (events before 2000 are refused whatever their day)
  const years = [2000, 2001, 2023, 2024, 2026, 2028, 2100, 2200, 2300, 2400, 9996, 9999];
  const cases = years.flatMap((y) => Array.from({ length: 12 }, (_, i) => [y, i + 1] as const));
  it.each(cases)('year %i month %i', (year, month) => {
    const last = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const at = (day: number) => `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}T10:00:00Z`;
    expect(validateEvent({ ...base, type: 'vehicle.arrived', occurredAt: at(last) }, { catalogue, now: farFuture }).ok).toBe(true);
    expect(validateEvent({ ...base, type: 'vehicle.arrived', occurredAt: at(last + 1) }, { catalogue, now: farFuture }).ok).toBe(false);
  });
});

describe('event contract v1', () => {
  it.each([
    { ...base, type: 'vehicle.arrived' },
    { ...base, type: 'vehicle.arrived', vehicleRef: '01A123BC' },
    { ...base, type: 'vehicle.service_started', vehicleRef: 'x' },
    { ...base, type: 'vehicle.crossed', vehicleRef: 'x' },
    { ...base, type: 'vehicle.abandoned', vehicleRef: 'x' },
    { ...base, type: 'lanes.changed', lanesOpen: 3 },
    { ...base, type: 'queue.observed', queueLength: 0 },
    { eventId: 'e2', crossingId: 'korday', occurredAt: '2026-11-22T05:00:00Z', type: 'crossing.status', status: 'closed', until: '2026-11-22T08:00:00Z', reason: 'night' },
  ])('accepts a valid $type', (ev) => {
    const res = validateEvent(ev, { catalogue, now });
    expect(res).toMatchObject({ ok: true });
  });

  it.each([
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-22T10:00:00' }, 'occurredAt', /offset/],
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-22T07:00:00Z' }, 'occurredAt', /future/],
    [{ ...base, type: 'vehicle.arrived', crossingId: 'atlantis' }, 'crossingId', /unknown crossing/],
    [{ ...base, type: 'vehicle.arrived', direction: 'KZ-CN' }, 'direction', /not a direction/],
    [{ ...base, type: 'vehicle.arrived', vehicleClass: 'tank' }, 'vehicleClass', /./],
    [{ ...base, type: 'vehicle.service_started' }, 'vehicleRef', /./],
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-02-30T10:00:00+05:00' }, 'occurredAt', /not a valid date-time/],
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-21T24:00:00Z' }, 'occurredAt', /not a valid date-time/],
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-21T08:00:00+25:00' }, 'occurredAt', /not a valid date-time/],
    [{ ...base, type: 'lanes.changed', lanesOpen: -1 }, 'lanesOpen', />= 0/],
    [{ ...base, type: 'lanes.changed', lanesOpen: 1.5 }, 'lanesOpen', /integer/],
    [{ ...base, type: 'queue.observed', queueLength: '3' }, 'queueLength', /./],
    [{ ...base, type: 'teleported' }, 'type', /must be one of/],
    [{ ...base, type: 'vehicle.arrived', eventId: '' }, 'eventId', /empty/],
    [{ ...base, type: 'vehicle.arrived', eventId: 'x'.repeat(129) }, 'eventId', /128/],
    // messages that say what to do
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-22T08:15:00 05:00' }, 'occurredAt', /%2B/],
    [{ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-22T08:15:00+05' }, 'occurredAt', /must have minutes/],
    [{ ...base, type: 'vehicle.service_started' }, 'vehicleRef', /^is required$/],
    // an eventId is the NATS msgID header: a control character there failed every publish (the ingest answered 503)
    [{ ...base, type: 'vehicle.arrived', eventId: 'x\nY' }, 'eventId', /control characters/],
    [{ ...base, type: 'vehicle.arrived', eventId: 'x\tY' }, 'eventId', /control characters/],
    [{ eventId: 'e\u0000', crossingId: 'korday', occurredAt: '2026-11-22T05:00:00Z', type: 'crossing.status', status: 'closed' }, 'eventId', /control characters/],
    [{ ...base, type: 'vehicle.arrived', extra: 1 }, '', /unknown field/],
    [{ eventId: 'e', crossingId: 'korday', occurredAt: '2026-11-22T05:00:00Z', type: 'crossing.status', status: 'ajar' }, 'status', /./],
  ])('rejects %j at %s', (ev, path, msg) => {
    const res = validateEvent(ev, { catalogue, now });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    const issue = res.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(res.issues)).toBeDefined();
    expect(issue!.message).toMatch(msg);
  });

  it('refuses an occurredAt older than oldestMs when asked (the ingest gateway passes the store retention), with the given reason', () => {
    const ev = { ...base, type: 'vehicle.arrived', occurredAt: '2026-11-20T06:00:00Z' };
    expect(validateEvent(ev, { catalogue, now }).ok).toBe(true);
    const old = validateEvent(ev, { catalogue, now, oldestMs: Date.parse('2026-11-21T06:00:00Z'), tooOldReason: 'is too old' });
    expect(old).toEqual({ ok: false, issues: [{ path: 'occurredAt', message: 'is too old' }] });
    expect(validateEvent(ev, { catalogue, now, oldestMs: Date.parse('2026-11-20T06:00:00Z') }).ok).toBe(true); // the bound itself passes
  });

  it('reports the catalogue\'s problems together with the schema\'s (a producer hears every problem at once)', () => {
    const res = validateEvent({ ...base, type: 'vehicle.arrived', occurredAt: '2026-11-22T10:00:00', direction: 'KZ-CN', vehicleClass: 'bus', vehicleRef: '' }, { catalogue, now });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.issues.map((i) => i.path).sort()).toEqual(['direction', 'occurredAt', 'vehicleRef']);
    expect(res.issues.find((i) => i.path === 'direction')!.message).toMatch(/not a direction of korday/);
    // a field the schema refused is reported once, by the schema
    const slug = validateEvent({ ...base, type: 'vehicle.arrived', crossingId: 'Korday!', lanesOpen: 2 }, { catalogue, now });
    expect(slug.ok ? [] : slug.issues.filter((i) => i.path === 'crossingId')).toHaveLength(1);
    const unknown = validateEvent({ ...base, type: 'lanes.changed', crossingId: 'atlantis', lanesOpen: -1 }, { catalogue, now });
    expect(unknown.ok ? [] : unknown.issues.map((i) => i.path).sort()).toEqual(['crossingId', 'lanesOpen']);
  });

  it("refuses a lanes.changed above the catalogue's lanesMax for that class, naming lanesOpen and the limit", () => {
    const lanes = (vehicleClass: string, lanesOpen: number, extra: Record<string, unknown> = {}) =>
      validateEvent({ ...base, type: 'lanes.changed', vehicleClass, lanesOpen, ...extra }, { catalogue, now });
    // korday: trucks at most 4 lanes per direction, cars 8 (seeds/crossings.json)
    expect(catalogue.profile('korday', 'truck')!.lanesMax).toBe(4);
    expect(catalogue.profile('korday', 'car')!.lanesMax).toBe(8);
    expect(lanes('truck', 4).ok).toBe(true); // the limit itself passes
    expect(lanes('truck', 0).ok).toBe(true);
    expect(lanes('truck', 5)).toEqual({ ok: false, issues: [{ path: 'lanesOpen', message: 'must be <= 4: korday has at most 4 truck lanes per direction' }] });
    // the class's own limit: 5 car lanes are fine where 5 truck lanes are not
    expect(lanes('car', 5).ok).toBe(true);
    expect(lanes('car', 9)).toEqual({ ok: false, issues: [{ path: 'lanesOpen', message: 'must be <= 8: korday has at most 8 car lanes per direction' }] });
    expect(lanes('car', 9, { direction: 'KG-KZ' }).ok).toBe(false);
    const bus = lanes('bus', 3);
    expect(bus.ok ? null : bus.issues[0]!.message).toBe('must be <= 2: korday has at most 2 bus lanes per direction');
    const kegenBus = validateEvent({ ...base, crossingId: 'kegen', type: 'lanes.changed', vehicleClass: 'bus', lanesOpen: 2 }, { catalogue, now });
    expect(kegenBus.ok ? null : kegenBus.issues[0]!.message).toBe('must be <= 1: kegen has at most 1 bus lane per direction');
    // reported with the other problems, and once: the schema's own bound (1000) comes first
    const both = lanes('truck', 7, { occurredAt: '2026-11-22T10:00:00' });
    expect(both.ok ? [] : both.issues.map((i) => i.path).sort()).toEqual(['lanesOpen', 'occurredAt']);
    const huge = lanes('truck', 5000);
    expect(huge.ok ? [] : huge.issues).toEqual([{ path: 'lanesOpen', message: 'must be <= 1000' }]);
    // a class the crossing does not serve has no limit to break: the vehicleClass issue says it all
    const unserved = validateEvent({ ...base, crossingId: 'karasu', type: 'lanes.changed', vehicleClass: 'car', lanesOpen: 50 }, { catalogue, now });
    expect(unserved.ok ? [] : unserved.issues.map((i) => i.path)).toEqual(['vehicleClass']);
  });

  it('rejects non-objects', () => {
    for (const v of [null, 1, 'x', [], true]) expect(validateEvent(v, { catalogue, now }).ok).toBe(false);
  });
});
