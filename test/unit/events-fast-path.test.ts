/**
 * The validator's hot path (`isCertainlyValidQueueEvent`) must never accept what the zod schema rejects, and must
 * give the same data when it accepts. Checked on valid events of every queue type and on many thousands of
 * mutations of them (fields replaced by values of every kind, removed, added, renamed), with fast-check.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isCertainlyValidQueueEvent, KezekEventSchema } from '../../shared/events/index.ts';

const base = { eventId: 'e1', crossingId: 'korday', occurredAt: '2026-11-22T10:00:00+05:00', direction: 'KZ-KG', vehicleClass: 'truck' };
const valid: Record<string, unknown>[] = [
  { ...base, type: 'vehicle.arrived' },
  { ...base, type: 'vehicle.arrived', vehicleRef: '01A123BC', source: 'gate-3' },
  { ...base, type: 'vehicle.service_started', vehicleRef: 'x' },
  { ...base, type: 'vehicle.crossed', vehicleRef: 'x' },
  { ...base, type: 'vehicle.abandoned', vehicleRef: 'x' },
  { ...base, type: 'lanes.changed', lanesOpen: 3 },
  { ...base, type: 'queue.observed', queueLength: 0 },
];

const TYPES_TRICKY = ['__proto__', 'constructor', 'toString'];
const FIELDS = ['eventId', 'crossingId', 'occurredAt', 'direction', 'vehicleClass', 'type', 'vehicleRef', 'source', 'lanesOpen', 'queueLength', 'status', 'until', 'extra', '__proto__', 'constructor'];
const tricky = fc.oneof(
  fc.constantFrom(
    ...TYPES_TRICKY, '', 'x', 'korday', 'Korday', 'kor day', 'KZ-KG', 'kz-kg', 'KZ-KGX', 'truck', 'tank', 'car', 'vehicle.arrived', 'crossing.status',
    '2026-11-22T10:00:00+05:00', '2026-11-22T10:00:00', '2026-02-30T10:00:00Z', '2026-11-22T24:00:00Z', '2026-11-22T10:00Z',
    '2026-11-22T10:00:00.123456789-03:30', '1999-12-31T23:59:59Z', 'x'.repeat(129), 'a'.repeat(65), 'e\n1', 'e\t1', 'e\u00001', 'e\u007f', 'e\r\n', '2026-11-22T10:00:00+05:00'.padEnd(41, '0'),
  ),
  fc.string({ maxLength: 140 }),
  fc.integer({ min: -5, max: 1_000_005 }),
  fc.constantFrom(0, 1000, 1001, 1_000_000, 1_000_001, -1, 2.5, Number.NaN, Infinity, -0),
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
);

type Mutation = { kind: 'set'; field: string; value: unknown } | { kind: 'delete'; field: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), field: fc.constantFrom(...FIELDS), value: tricky }),
  fc.record({ kind: fc.constant('delete' as const), field: fc.constantFrom(...FIELDS) }),
);

function mutate(ev: Record<string, unknown>, ms: Mutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = JSON.parse(JSON.stringify(ev)) as Record<string, unknown>;
  for (const m of ms) {
    if (m.kind === 'delete') delete out[m.field];
    else Object.defineProperty(out, m.field, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

describe('validateEvent hot path', () => {
  it('accepts every valid queue event (it is not vacuous) and agrees with zod on them', () => {
    for (const ev of valid) {
      expect(isCertainlyValidQueueEvent(ev)).toBe(true);
      const z = KezekEventSchema.safeParse(ev);
      expect(z.success).toBe(true);
      expect(z.data).toEqual(ev);
    }
  });

  it('leaves crossing.status to zod', () => {
    expect(isCertainlyValidQueueEvent({ eventId: 'e', crossingId: 'korday', occurredAt: '2026-11-22T05:00:00Z', type: 'crossing.status', status: 'closed' })).toBe(false);
  });

  it('never accepts what zod rejects, and yields the same data when it accepts (fast-check, 20k mutations)', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.constantFrom(...valid), fc.array(mutation, { minLength: 1, maxLength: 3 }), (ev, ms) => {
        const x = mutate(ev, ms);
        const z = KezekEventSchema.safeParse(x);
        if (isCertainlyValidQueueEvent(x)) {
          accepted += 1;
          expect(z.success).toBe(true);
          expect(z.data).toEqual({ ...x });
        } else rejected += 1;
      }),
      { numRuns: 20_000, seed: 20261122 },
    );
    // both branches were exercised
    expect(accepted).toBeGreaterThan(500);
    expect(rejected).toBeGreaterThan(5_000);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty'])('a type of %s is not a queue event type (no prototype lookup)', (type) => {
    const x = JSON.parse(`{"eventId":"e1","crossingId":"korday","occurredAt":"2026-11-22T10:00:00+05:00","direction":"KZ-KG","vehicleClass":"truck","type":"vehicle.arrived","type":"${type}"}`) as Record<string, unknown>;
    expect(() => isCertainlyValidQueueEvent(x)).not.toThrow();
    expect(isCertainlyValidQueueEvent(x)).toBe(false);
  });

  it('rejects JSON-parsed prototype tricks (falls back to zod)', () => {
    const x = JSON.parse('{"eventId":"e1","crossingId":"korday","occurredAt":"2026-11-22T10:00:00+05:00","direction":"KZ-KG","vehicleClass":"truck","type":"vehicle.arrived","__proto__":{"a":1}}') as Record<string, unknown>;
    expect(isCertainlyValidQueueEvent(x)).toBe(false);
  });
});
