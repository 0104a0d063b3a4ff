import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isPseudonym, macViaNodeCrypto, pseudonymise, pseudonymiseEvent } from '../../shared/privacy.ts';

const reference = (ref: string, key: string) => `ps1_${createHmac('sha256', key).update(ref, 'utf8').digest().subarray(0, 16).toString('base64url')}`;

describe('pseudonymise (HMAC-SHA256, first 128 bits, base64url)', () => {
  it('equals node:crypto HMAC-SHA256 for refs of every one-block length and across the block boundary', () => {
    const key = 'kezek-test-key';
    for (let n = 0; n <= 80; n++) {
      const ref = 'A1b2C3d4E5'.repeat(9).slice(0, n);
      if (isPseudonym(ref)) continue;
      expect(pseudonymise(ref, key), `length ${n}`).toBe(reference(ref, key));
    }
  });

  it('equals node:crypto for random refs (ASCII, any Unicode) and random keys (short, 64 bytes, longer than a block)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 70 }), fc.string({ unit: 'grapheme', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 60 })),
        fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constant('k'.repeat(64)), fc.string({ minLength: 65, maxLength: 200 })),
        (ref, key) => {
          fc.pre(!isPseudonym(ref));
          expect(pseudonymise(ref, key)).toBe(reference(ref, key));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('is keyed: another key gives another pseudonym; the same key the same one (also after other keys were used)', () => {
    const a = pseudonymise('01KZ123ABC', 'key-one');
    const b = pseudonymise('01KZ123ABC', 'key-two');
    expect(a).not.toBe(b);
    for (let i = 0; i < 40; i++) pseudonymise('x', randomBytes(8).toString('hex')); // evicts the key cache
    expect(pseudonymise('01KZ123ABC', 'key-one')).toBe(a);
  });

  it('leaves pseudonyms alone and never returns the clear ref', () => {
    const p = pseudonymise('01KZ123ABC', 'k');
    expect(isPseudonym(p)).toBe(true);
    expect(p).not.toContain('01KZ123ABC');
    expect(pseudonymise(p, 'k')).toBe(p);
    expect(pseudonymise(p, 'other')).toBe(p);
    expect(macViaNodeCrypto('01KZ123ABC', 'k')).toBe(p.slice(4));
  });

  it('pseudonymiseEvent replaces vehicleRef only and leaves events without one unchanged', () => {
    const ev = { eventId: 'e1', vehicleRef: '01KZ123ABC', type: 'vehicle.arrived' };
    const out = pseudonymiseEvent(ev, 'k');
    expect(out).toEqual({ ...ev, vehicleRef: reference('01KZ123ABC', 'k') });
    expect(ev.vehicleRef).toBe('01KZ123ABC');
    const status: { eventId: string; vehicleRef?: string } = { eventId: 'e2' };
    expect(pseudonymiseEvent(status, 'k')).toBe(status);
  });
});
