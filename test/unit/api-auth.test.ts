import { describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../services/api/auth.ts';
import { HttpError } from '../../services/api/errors.ts';
import { firedRules, signWebhook, deliveryIdFor } from '../../services/api/webhooks.ts';
import type { SubscriptionRecord } from '../../shared/api-store/store.ts';
import { QueueEstimateSchema } from '../../shared/estimates.ts';

const auth = createAuthenticator([
  { role: 'producer', token: 'producer-secret-1' },
  { role: 'reader', token: 'reader-secret-1' },
  { role: 'admin', token: 'admin-secret-1' },
]);
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (err) {
    return (err as HttpError).error;
  }
};

describe('bearer authentication', () => {
  it('identifies a valid token by role with a stable client id that does not contain the token', () => {
    const p = auth.identify('Bearer producer-secret-1')!;
    expect(p.role).toBe('producer');
    expect(p.clientId).toMatch(/^tok_[0-9a-f]{16}$/);
    expect(p.clientId).not.toContain('producer-secret');
    expect(auth.identify('bearer producer-secret-1')!.clientId).toBe(p.clientId);
    expect(auth.identify('Bearer reader-secret-1')!.clientId).not.toBe(p.clientId);
  });

  it('treats a missing header as anonymous and a malformed or unknown token as 401', () => {
    expect(auth.identify(undefined)).toBeUndefined();
    expect(code(() => auth.identify('Basic abc'))).toBe('unauthorized');
    expect(code(() => auth.identify('Bearer nope'))).toBe('unauthorized');
    expect(code(() => auth.identify('Bearer producer-secret-1x'))).toBe('unauthorized');
  });

  it('authorises by role: admin can do everything, public reads unless READ_AUTH', () => {
    const producer = auth.identify('Bearer producer-secret-1');
    const reader = auth.identify('Bearer reader-secret-1');
    const admin = auth.identify('Bearer admin-secret-1');
    const write = { kind: 'write' as const, roles: ['producer' as const] };
    expect(code(() => auth.authorise(write, producer, false))).toBeUndefined();
    expect(code(() => auth.authorise(write, admin, false))).toBeUndefined();
    expect(code(() => auth.authorise(write, reader, false))).toBe('forbidden');
    expect(code(() => auth.authorise(write, undefined, false))).toBe('unauthorized');
    expect(code(() => auth.authorise({ kind: 'read' }, undefined, false))).toBeUndefined();
    expect(code(() => auth.authorise({ kind: 'read' }, undefined, true))).toBe('unauthorized');
    expect(code(() => auth.authorise({ kind: 'read' }, producer, true))).toBeUndefined();
  });
});

describe('webhook rules and signatures', () => {
  const sub: SubscriptionRecord = { id: 'sub_x', owner: 'o', url: 'http://x', crossingId: 'korday', direction: null, vehicleClass: 'truck', waitAboveSeconds: 3600, onClosure: true, secret: 's', createdAt: '' };
  const e = (p: object) =>
    QueueEstimateSchema.parse({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', status: 'open', statusUntil: null, statusReason: null, lanesOpen: 2, queueLength: 5, waitSeconds: 100, waitP10Seconds: null, waitP90Seconds: null, lastEventAt: null, asOf: '2026-11-22T00:00:00Z', updatedAt: '2026-11-22T00:00:00Z', method: 'queue-model', stale: false, revision: 1, ...p });

  it('fires wait_above only when crossing the threshold upward', () => {
    expect(firedRules(sub, e({ waitSeconds: 100 }), e({ waitSeconds: 4000 }))).toEqual(['wait_above']);
    expect(firedRules(sub, e({ waitSeconds: 4000 }), e({ waitSeconds: 5000 }))).toEqual([]);
    expect(firedRules(sub, e({ waitSeconds: 5000 }), e({ waitSeconds: 100 }))).toEqual([]);
    expect(firedRules(sub, e({ waitSeconds: 3600 }), e({ waitSeconds: 3600 }))).toEqual([]);
    expect(firedRules(sub, undefined, e({ waitSeconds: 4000 }))).toEqual(['wait_above']);
  });

  it('fires closure when the queue closes, and respects the filters', () => {
    expect(firedRules(sub, e({}), e({ status: 'closed', waitSeconds: null }))).toEqual(['closure']);
    expect(firedRules(sub, e({ status: 'closed' }), e({ status: 'closed' }))).toEqual([]);
    expect(firedRules(sub, e({}), e({ status: 'closed', vehicleClass: 'car' }))).toEqual([]);
    expect(firedRules(sub, e({}), e({ status: 'closed', crossingId: 'other' }))).toEqual([]);
  });

  it('signs t.body with HMAC-SHA256 and derives the same delivery id on every instance', () => {
    expect(signWebhook('whsec_a', 1700000000, '{}')).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(signWebhook('whsec_a', 1700000000, '{}')).not.toBe(signWebhook('whsec_b', 1700000000, '{}'));
    expect(deliveryIdFor('sub_x', e({ revision: 3 }), 'closure')).toBe(deliveryIdFor('sub_x', e({ revision: 3 }), 'closure'));
    expect(deliveryIdFor('sub_x', e({ revision: 3 }), 'closure')).not.toBe(deliveryIdFor('sub_x', e({ revision: 4 }), 'closure'));
  });
});
