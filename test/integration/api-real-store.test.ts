import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import { createHarness, makeEstimate, seedRealStore, type Harness } from '../helpers/api-fixtures.ts';
import { HISTORY_STEPS } from '../../services/api/schemas.ts';

// The API against the estimator's real queue store (the fixture reader is only used where no store exists).
let h: Harness;
let app: FastifyInstance;
let store: QueueStore;
const MIN = 60_000;
const t0 = Math.floor((Date.now() - 90 * MIN) / MIN) * MIN;
const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const };

beforeAll(async () => {
  h = await createHarness();
  store = await seedRealStore(h, t0);
  // an estimate already stored before the API boots is in the view's snapshot
  await store.writeEstimate(makeEstimate({ ...q, waitSeconds: 4242, asOf: new Date(t0 + 11 * MIN).toISOString(), lastEventAt: new Date(t0 + 11 * MIN).toISOString() }));
  app = await h.build({ reader: store });
});
afterAll(async () => h.close());

describe('API over the real queue store', () => {
  it('loads the stored estimate into the view at boot', async () => {
    const res = await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck');
    expect(res.json().queues[0]).toMatchObject({ waitSeconds: 4242 });
  });

  it('while the store is being rebuilt (not initialised): readyz degraded, asOf and history 503 with Retry-After, latest waits served', async () => {
    expect((await app.inject('/readyz')).json().checks.store.ok).toBe(false);
    const asOf = await app.inject(`/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck&asOf=${new Date(t0 + 5 * MIN).toISOString()}`);
    const history = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(t0).toISOString()}&to=${new Date(t0 + 15 * MIN).toISOString()}&step=5m`);
    for (const res of [asOf, history]) {
      expect(res.statusCode).toBe(503);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.json()).toMatchObject({ error: 'service_unavailable', message: expect.stringMatching(/being rebuilt/) });
    }
    expect((await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck')).json().queues[0]).toMatchObject({ waitSeconds: 4242 });
    await store.markInitialised();
    expect((await app.inject('/readyz')).json().checks.store.ok).toBe(true);
  });

  it('answers asOf with the model over the events up to that instant', async () => {
    const asOf = new Date(t0 + 5 * MIN + 30_000).toISOString();
    const res = await app.inject(`/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck&asOf=${asOf}`);
    expect(res.statusCode).toBe(200);
    const qv = res.json().queues[0];
    expect(qv.lastEventAt).toBe(new Date(t0 + 5 * MIN).toISOString());
    expect(qv.lanesOpen).toBe(2);
    expect(qv.queueLength).toBeGreaterThanOrEqual(20);
    expect(qv.waitSeconds).toBeGreaterThan(0);
    // before any event: no live data
    const before = await app.inject(`/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck&asOf=${new Date(t0 - 10 * MIN).toISOString()}`);
    expect(before.json().queues[0]).toMatchObject({ lastEventAt: null, stale: true });
  });

  it('offers only history steps the store can answer, and ends history now', async () => {
    const base = `/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(t0).toISOString()}&to=${new Date(t0 + 60 * MIN).toISOString()}`;
    for (const step of Object.keys(HISTORY_STEPS)) expect((await app.inject(`${base}&step=${step}`)).statusCode, step).toBe(200);
    const fine = await app.inject(`${base}&step=1m`);
    expect(fine.statusCode).toBe(400);
    expect(fine.json().details[0].path).toBe('query.step');
    // a range reaching into the future is cut at now: no point claims to know a state that lies ahead
    const now = Date.now();
    const ahead = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(now - 2 * 3600_000).toISOString()}&to=${new Date(now + 48 * 3600_000).toISOString()}&step=1h`);
    expect(ahead.statusCode).toBe(200);
    expect(Date.parse(ahead.json().to)).toBeLessThanOrEqual(Date.now());
    expect(ahead.json().points.every((p: { t: string }) => Date.parse(p.t) <= Date.now())).toBe(true);
    const future = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(now + 3600_000).toISOString()}&step=1h`);
    expect(future.statusCode).toBe(400);
    expect(future.json().details[0].path).toBe('query.from');
  });

  it('serves history buckets counted by the store', async () => {
    const res = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(t0).toISOString()}&to=${new Date(t0 + 15 * MIN).toISOString()}&step=5m`);
    expect(res.statusCode).toBe(200);
    const arrivals = res.json().points.reduce((s: number, p: { arrivals: number }) => s + p.arrivals, 0);
    expect(arrivals).toBe(10);
  });
});
