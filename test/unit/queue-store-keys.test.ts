/** Key layout and Lua script conventions of the queue store (no Redis needed). */
import { describe, expect, it } from 'vitest';
import { createKeys } from '../../shared/queue-store/keys.ts';
import { scriptDefs } from '../../shared/queue-store/scripts.ts';
import { materiallyChanged } from '../../services/estimator/publish.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';

const tagOf = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];

describe('queue store keys', () => {
  const keys = createKeys('kezek');
  const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' } as const;

  it('every key a script touches carries the crossing hash tag, so one call stays in one cluster slot', () => {
    const qk = keys.queue(q);
    const ck = keys.crossing('korday');
    const all = [qk.meta, ...Object.values(qk.records), qk.vix, qk.hist, qk.hidx, qk.hest, qk.est, ck.ids, ck.cmeta, ck.stfold, ...keys.statusKeysFor(q)];
    expect(new Set(all.map(tagOf))).toEqual(new Set(['korday']));
    expect(new Set(all).size).toBe(all.length);
    expect(qk.meta.startsWith('kezek:v1:{korday}:KZ-KG:car:')).toBe(true);
  });

  it('status scopes go from the queue itself to the whole crossing', () => {
    expect(keys.statusScopesFor(q)).toEqual(['KZ-KG:car', 'KZ-KG:*', '*:car', '*:*']);
  });

  it('refuses a prefix that could break the layout', () => {
    expect(() => createKeys('a:b')).toThrow(RangeError);
    expect(() => createKeys('')).toThrow(RangeError);
  });
});

describe('queue store Lua scripts', () => {
  it('each script is named <name>-<numkeys|n> and its header lists exactly that many KEYS (or says how many)', () => {
    const defs = scriptDefs();
    expect(defs.map((d) => d.name).sort()).toEqual(['apply-events', 'apply-status', 'read-window', 'write-estimate']);
    expect(defs.find((d) => d.name === 'apply-events')?.numberOfKeys).toBeNull();
    for (const d of defs) {
      const header = d.lua.slice(0, d.lua.indexOf(']]'));
      const listed = new Set([...header.matchAll(/KEYS\[(\d+)(?:\.\.(\d+))?\]/g)].flatMap((m) => (m[2] ? Array.from({ length: Number(m[2]) - Number(m[1]) + 1 }, (_, i) => Number(m[1]) + i) : [Number(m[1])])));
      if (d.numberOfKeys === null) expect(header, d.name).toMatch(/number of keys is variable/);
      else expect(Math.max(...listed), d.name).toBe(d.numberOfKeys);
      expect(header).toMatch(/Returns/);
      expect(d.lua).not.toMatch(/^-- @include/m);
    }
  });
});

describe('material change of an estimate', () => {
  const base: QueueEstimate = {
    crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car', status: 'open', statusUntil: null, statusReason: null, lanesOpen: 3, queueLength: 10,
    waitSeconds: 1200, waitP10Seconds: 600, waitP90Seconds: 2400, lastEventAt: '2026-11-22T08:00:00.000Z', asOf: '2026-11-22T08:00:00.000Z',
    updatedAt: '2026-11-22T08:00:01.000Z', method: 'queue-model', stale: false, revision: 3,
  };
  const TEN_MIN = 600_000;
  it('a wait move within max(60 s, 5 %) is not material; beyond it, or a new queue length, is', () => {
    expect(materiallyChanged(base, { ...base, waitSeconds: 1259 }, TEN_MIN)).toBe(false);
    expect(materiallyChanged(base, { ...base, waitSeconds: 1261 }, TEN_MIN)).toBe(true);
    expect(materiallyChanged(base, { ...base, queueLength: 11 }, TEN_MIN)).toBe(true);
    expect(materiallyChanged(base, { ...base, status: 'closed' }, TEN_MIN)).toBe(true);
    expect(materiallyChanged(null, base, TEN_MIN)).toBe(true);
  });
  it('an unchanged estimate is republished after the period of event time', () => {
    expect(materiallyChanged(base, { ...base, asOf: '2026-11-22T08:09:59.000Z' }, TEN_MIN)).toBe(false);
    expect(materiallyChanged(base, { ...base, asOf: '2026-11-22T08:10:00.000Z' }, TEN_MIN)).toBe(true);
  });
  it('an unchanged estimate is republished before its published staleAt runs out while events keep coming', () => {
    // published at 08:00 with a 15-minute allowance (staleAt 08:15); newer events with the same figures
    const published = { ...base, staleAt: '2026-11-22T08:15:00.000Z' };
    const at = (hhmmss: string) => ({ ...base, asOf: `2026-11-22T${hhmmss}.000Z`, lastEventAt: `2026-11-22T${hhmmss}.000Z`, staleAt: new Date(Date.parse(`2026-11-22T${hhmmss}.000Z`) + 15 * 60_000).toISOString() });
    // 08:02: 13 of 15 minutes left (>= 80 %): not worth a new body for pollers
    expect(materiallyChanged(published, at('08:02:00'), TEN_MIN)).toBe(false);
    // 08:03:01: under 80 % left: republished, so readers do not call the queue stale at 08:15 while it is active
    expect(materiallyChanged(published, at('08:03:01'), TEN_MIN)).toBe(true);
    // an estimate stored before staleAt existed is replaced by one that has it
    expect(materiallyChanged(base, at('08:00:30'), TEN_MIN)).toBe(true);
  });
});
