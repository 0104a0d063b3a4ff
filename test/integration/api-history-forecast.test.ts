import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createHarness, makeEstimate, type Harness } from '../helpers/api-fixtures.ts';

let h: Harness;
let app: FastifyInstance;
const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const };
const closedQ = { ...q, direction: 'KG-KZ' };
const noLanesQ = { ...q, vehicleClass: 'car' as const };
const HOUR = 3600_000;
const t0 = Math.floor((Date.now() - 5 * HOUR) / HOUR) * HOUR;

beforeAll(async () => {
  h = await createHarness();
  for (let i = 0; i < 4; i++) {
    await h.addHistory(q, { t: t0 + i * HOUR, queueLength: 10 + i, lanesOpen: 4, status: 'open', waitSeconds: 600 * (i + 1), waitP10Seconds: 500, waitP90Seconds: 900 * (i + 1), realisedWaitSeconds: 550, arrivals: 5, served: 4 });
  }
  await h.publishEstimate(makeEstimate({ ...q, queueLength: 40, waitSeconds: 4 * 3600, revision: 2 }));
  // what the estimator publishes for a closure with no known reopening, and for an open queue with no lane open
  const noWait = { waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, method: 'closed-unknown-reopening' as const, queueLength: 30 };
  await h.publishEstimate(makeEstimate({ ...closedQ, ...noWait, status: 'closed', statusReason: 'reconstruction' }));
  await h.publishEstimate(makeEstimate({ ...noLanesQ, ...noWait, lanesOpen: 0, statusReason: 'no lanes open' }));
  app = await h.build();
});
afterAll(async () => h.close());

describe('history', () => {
  it('returns the series in UTC by default', async () => {
    const res = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(t0).toISOString()}&to=${new Date(t0 + 3 * HOUR).toISOString()}&step=1h`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ crossingId: 'korday', step: '1h', timeZone: 'UTC' });
    expect(body.points).toHaveLength(4);
    expect(body.points[1]).toMatchObject({ t: new Date(t0 + HOUR).toISOString(), queueLength: 11, waitSeconds: 1200, realisedWaitSeconds: 550 });
    expect(body.points[0].tLocal).toBeUndefined();
  });

  it("renders tLocal in the crossing's zone with tz=local", async () => {
    const res = await app.inject(`/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${new Date(t0).toISOString()}&step=1h&tz=local`);
    const body = res.json();
    const zone = h.catalogue.localZone('korday')!;
    expect(body.timeZone).toBe(zone);
    const expected = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: '2-digit', hourCycle: 'h23' }).format(new Date(t0));
    expect(body.points[0].tLocal.slice(11, 13)).toBe(expected);
    expect(body.points[0].tLocal).toMatch(/[+-]\d\d:\d\d$/);
  });

  it('validates the range and step', async () => {
    const base = '/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck';
    const inverted = await app.inject(`${base}&from=${new Date(t0).toISOString()}&to=${new Date(t0 - HOUR).toISOString()}`);
    expect(inverted.statusCode).toBe(400);
    expect(inverted.json().message).toMatch(/after/);
    const long = await app.inject(`${base}&from=${new Date(t0 - 40 * 24 * HOUR).toISOString()}&to=${new Date(t0).toISOString()}&step=1h`);
    expect(long.statusCode).toBe(400);
    expect(long.json().message).toMatch(/31 days/);
    const step = await app.inject(`${base}&from=${new Date(t0).toISOString()}&step=7m`);
    expect(step.statusCode).toBe(400);
    expect(step.json().details[0].path).toBe('query.step');
    const missing = await app.inject(`/v1/crossings/korday/history?from=${new Date(t0).toISOString()}`);
    expect(missing.statusCode).toBe(400);
    expect(missing.json().details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(['query.direction', 'query.vehicleClass']));
  });
});

describe('forecast and best time', () => {
  it('forecasts a wait for arriving soon, labelled as a forecast, starting from the live estimate', async () => {
    const arriveAt = new Date(Date.now() + 30 * 60_000).toISOString();
    const res = await app.inject(`/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck&arriveAt=${encodeURIComponent(arriveAt)}`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.kind).toBe('forecast');
    expect(body.basedOn).toMatchObject({ revision: 2, queueLength: 40 });
    expect(body.waitSeconds).toBeGreaterThan(0);
    expect(body.waitP10Seconds).toBeLessThanOrEqual(body.waitSeconds);
    expect(body.waitP90Seconds).toBeGreaterThanOrEqual(body.waitSeconds);
  });

  it('rejects arriveAt in the past or beyond 7 days, and a missing arriveAt', async () => {
    const past = await app.inject(`/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck&arriveAt=${new Date(Date.now() - HOUR).toISOString()}`);
    expect(past.statusCode).toBe(400);
    const far = await app.inject(`/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck&arriveAt=${new Date(Date.now() + 8 * 24 * HOUR).toISOString()}`);
    expect(far.statusCode).toBe(400);
    const missing = await app.inject('/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck');
    expect(missing.statusCode).toBe(400);
    expect(missing.json().details[0].path).toBe('query.arriveAt');
  });

  it('ranks the next 24 hour slots', async () => {
    const res = await app.inject('/v1/crossings/korday/best-time?direction=KZ-KG&vehicleClass=truck');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ kind: 'forecast', within: '24h' });
    // the clock hours of [now, now + 24 h], the first and last cut to it (24 slots only when now is on the hour)
    expect(body.slots.length).toBeGreaterThanOrEqual(24);
    expect(body.slots.length).toBeLessThanOrEqual(25);
    const froms = body.slots.map((s: { from: string }) => Date.parse(s.from));
    const tos = body.slots.map((s: { to: string }) => Date.parse(s.to));
    expect(Math.min(...froms)).toBe(Date.parse(body.generatedAt));
    expect(Math.max(...tos)).toBe(Date.parse(body.generatedAt) + 24 * 3600_000);
    expect(body.slots[0].rank).toBe(1);
    const waits = body.slots.map((s: { waitSeconds: number | null }) => s.waitSeconds ?? Infinity);
    expect([...waits].sort((a, b) => a - b)).toEqual(waits);
    const bad = await app.inject('/v1/crossings/korday/best-time?direction=KZ-KG&vehicleClass=truck&within=200h');
    expect(bad.statusCode).toBe(400);
    expect(body.unavailable).toBeNull(); // every hour has a wait
  });

  it.each([
    ['closed with no known reopening', closedQ, 'closed-unknown-reopening', /closed with no announced reopening/],
    ['open with no lane open', noLanesQ, 'no-lanes-open', /no lane is open/],
  ])('ranks no hour of a queue %s, and says why', async (_, queue, reason, message) => {
    const res = await app.inject(`/v1/crossings/korday/best-time?direction=${queue.direction}&vehicleClass=${queue.vehicleClass}&within=6h`);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    // no slot comes out as "the best time to go"
    expect(body.slots).toEqual([]);
    expect(body.unavailable).toMatchObject({ reason, message: expect.stringMatching(message) });
    // the hours left out are listed, in time order, covering the period
    const listed = body.unavailable.slots as { from: string; to: string }[];
    expect(listed.length).toBeGreaterThanOrEqual(6);
    expect(Date.parse(listed[0]!.from)).toBe(Date.parse(body.generatedAt));
    expect(Date.parse(listed.at(-1)!.to)).toBe(Date.parse(body.generatedAt) + 6 * HOUR);
    for (let i = 1; i < listed.length; i++) expect(listed[i]!.from).toBe(listed[i - 1]!.to);
    // and the forecast for any hour has no wait figure either
    const arriveAt = new Date(Date.now() + 2 * HOUR).toISOString();
    const f = await app.inject(`/v1/crossings/korday/forecast?direction=${queue.direction}&vehicleClass=${queue.vehicleClass}&arriveAt=${encodeURIComponent(arriveAt)}`);
    expect(f.json()).toMatchObject({ waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null });
  });
});
