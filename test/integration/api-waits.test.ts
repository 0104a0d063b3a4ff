import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { gunzipSync } from 'node:zlib';
import { GZIP_MIN_BYTES } from '../../services/api/lookup.ts';
import { bearer, createHarness, makeEstimate, type Harness } from '../helpers/api-fixtures.ts';

let h: Harness;
let app: FastifyInstance;

const waitFor = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('condition not met in time');
};

beforeAll(async () => {
  h = await createHarness();
  // one estimate exists before the app boots (snapshot), others arrive live
  await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitSeconds: 3600, revision: 5 }));
  app = await h.build();
});
afterAll(async () => h.close());

describe('waits from the in-process view', () => {
  it('serves the snapshot loaded at boot, every catalogue queue, with ETag and Cache-Control', async () => {
    const res = await app.inject('/v1/crossings/korday/waits');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.crossingId).toBe('korday');
    expect(body.queues).toHaveLength(2 * 4);
    const truck = body.queues.find((q: { direction: string; vehicleClass: string }) => q.direction === 'KZ-KG' && q.vehicleClass === 'truck');
    expect(truck).toMatchObject({ waitSeconds: 3600, method: 'queue-model', stale: false, revision: 5 });
    const car = body.queues.find((q: { direction: string; vehicleClass: string }) => q.direction === 'KZ-KG' && q.vehicleClass === 'car');
    expect(car).toMatchObject({ waitSeconds: null, method: null, stale: true });
    expect(res.headers.etag).toMatch(/^"/);
    expect(res.headers['cache-control']).toMatch(/max-age=5/);
  });

  it('answers 304 to a matching If-None-Match, and a new body + ETag after a live update', async () => {
    const first = await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck');
    const etag = first.headers.etag as string;
    const again = await app.inject({ url: '/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck', headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitSeconds: 7200, revision: 6 }));
    await waitFor(async () => (await app.inject({ url: '/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck', headers: { 'if-none-match': etag } })).statusCode === 200);
    const changed = await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck');
    expect(changed.headers.etag).not.toBe(etag);
    expect(changed.json().queues).toEqual([expect.objectContaining({ waitSeconds: 7200, revision: 6 })]);
  });

  it('the crossings list and one crossing answer 304 to a matching If-None-Match, and change with the estimates', async () => {
    for (const url of ['/v1/crossings', '/v1/crossings/korday']) {
      const first = await app.inject(url);
      expect(first.statusCode).toBe(200);
      const etag = first.headers.etag as string;
      expect(etag).toMatch(/^"/);
      const again = await app.inject({ url, headers: { 'if-none-match': etag } });
      expect(again.statusCode, url).toBe(304);
      expect(again.body).toBe('');
    }
    const etags = await Promise.all(['/v1/crossings', '/v1/crossings/korday'].map(async (u) => (await app.inject(u)).headers.etag as string));
    await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car', waitSeconds: 4321, revision: 9 }));
    await waitFor(async () => (await app.inject({ url: '/v1/crossings/korday', headers: { 'if-none-match': etags[1]! } })).statusCode === 200);
    expect((await app.inject({ url: '/v1/crossings', headers: { 'if-none-match': etags[0]! } })).statusCode).toBe(200);
  });

  it('a filtered poll keeps its ETag (304) while only queues outside the filter change', async () => {
    const url = '/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck';
    const first = await app.inject(url);
    const etag = first.headers.etag as string;
    const later = new Date(Date.now() + 1000).toISOString(); // a newer asOf on another queue of the crossing
    await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'pedestrian', asOf: later, lastEventAt: later, revision: 40 }));
    await waitFor(async () => (await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=pedestrian')).json().queues[0].revision === 40);
    const again = await app.inject({ url, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    // the unfiltered document does change (its asOf is the newest of all its queues)
    expect((await app.inject('/v1/crossings/korday/waits')).json().asOf).toBe(later);
  });

  it('does not let an older revision from the boot snapshot override a newer live one', async () => {
    await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KG-KZ', vehicleClass: 'car', waitSeconds: 100, revision: 3 }));
    await waitFor(() => app.inject('/v1/crossings/korday/waits?direction=KG-KZ&vehicleClass=car').then((r) => r.json().queues[0].revision === 3));
  });

  it('filters by direction and class', async () => {
    const res = await app.inject('/v1/crossings/korday/waits?direction=KG-KZ');
    expect(res.json().queues.every((q: { direction: string }) => q.direction === 'KG-KZ')).toBe(true);
    expect(res.json().queues).toHaveLength(4);
    const res2 = await app.inject('/v1/crossings/korday/waits?vehicleClass=bus');
    expect(res2.json().queues.map((q: { direction: string }) => q.direction)).toEqual(['KZ-KG', 'KG-KZ']);
  });

  it('marks a queue stale when its newest event is older than STALE_AFTER_SECONDS', async () => {
    const old = new Date(Date.now() - 3 * 3600_000).toISOString();
    await h.publishEstimate(makeEstimate({ crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car', lastEventAt: old, revision: 1 }));
    await waitFor(() => app.inject('/v1/crossings/zhibek-zholy/waits?direction=KZ-UZ&vehicleClass=car').then((r) => r.json().queues[0].revision === 1));
    expect((await app.inject('/v1/crossings/zhibek-zholy/waits?direction=KZ-UZ&vehicleClass=car')).json().queues[0].stale).toBe(true);
  });

  it("a quiet queue stays fresh until its estimate's staleAt, past STALE_AFTER_SECONDS, and the cached body flips then", async () => {
    let clock = Date.now();
    const quietApp = await h.build({ now: () => clock });
    const staleAfterMs = h.config.STALE_AFTER_SECONDS * 1000;
    const last = clock - staleAfterMs - 5 * 60_000; // older than the fixed threshold
    const staleAt = clock + 10 * 60_000;
    await h.publishEstimate(makeEstimate({ crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'bus', lastEventAt: new Date(last).toISOString(), staleAt: new Date(staleAt).toISOString(), revision: 1 }));
    const queue = async () => (await quietApp.inject('/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=bus')).json().queues[0];
    await waitFor(async () => (await queue()).revision === 1);
    expect(await queue()).toMatchObject({ stale: false, staleAt: new Date(staleAt).toISOString() });
    const cacheControl = async () => (await quietApp.inject('/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=bus')).headers['cache-control'];
    expect(await cacheControl()).toBe('public, max-age=5, stale-while-revalidate=10'); // the flip is 10 min away
    clock = staleAt - 12_000;
    expect(await cacheControl()).toBe('public, max-age=5, stale-while-revalidate=7'); // no cache serves it past staleAt
    clock = staleAt - 3_000;
    expect(await cacheControl()).toBe('public, max-age=3');
    clock = staleAt - 1000;
    expect((await queue()).stale).toBe(false); // served from the cached body
    clock = staleAt + 1000;
    expect((await queue()).stale).toBe(true); // the cache was valid only until staleAt
    // the bulk view flips with it
    const bulk = (await quietApp.inject('/v1/waits')).json();
    const inBulk = bulk.crossings.find((c: { crossingId: string }) => c.crossingId === 'nur-zholy').queues.find((q: { direction: string; vehicleClass: string }) => q.direction === 'KZ-CN' && q.vehicleClass === 'bus');
    expect(inBulk.stale).toBe(true);
    await quietApp.close();
  });

  it('404 for an unknown crossing, 400 listing valid values for a wrong direction or class, 400 for unknown params', async () => {
    const nf = await app.inject('/v1/crossings/atlantis/waits');
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toMatchObject({ error: 'not_found', message: expect.stringContaining('atlantis') });
    const dir = await app.inject('/v1/crossings/korday/waits?direction=KZ-CN');
    expect(dir.statusCode).toBe(400);
    expect(dir.json().message).toMatch(/KZ-KG, KG-KZ/);
    const noPed = h.catalogue.crossings.find((c) => !c.vehicleClasses.includes('pedestrian'))!;
    const cls = await app.inject(`/v1/crossings/${noPed.id}/waits?vehicleClass=pedestrian`);
    expect(cls.statusCode).toBe(400);
    expect(cls.json().message).toContain(noPed.vehicleClasses.join(', '));
    const badCls = await app.inject('/v1/crossings/korday/waits?vehicleClass=tank');
    expect(badCls.statusCode).toBe(400);
    expect(badCls.json().details[0].path).toBe('query.vehicleClass');
    const unknown = await app.inject('/v1/crossings/korday/waits?colour=red');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().details[0].message).toMatch(/colour/);
  });

  it('validation is memoised per exact input: a repeated valid query stays 200, a look-alike with NUL bytes is still a 400', async () => {
    for (let i = 0; i < 3; i++) expect((await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=car')).statusCode).toBe(200);
    // would share the memo key "direction\0KZ-KG\0vehicleClass\0car\0" if NULs were not excluded
    const lookAlike = await app.inject('/v1/crossings/korday/waits?direction=KZ-KG%00vehicleClass%00car');
    expect(lookAlike.statusCode).toBe(400);
    expect(lookAlike.json().details[0].path).toBe('query.direction');
    expect((await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=car')).json().queues).toHaveLength(1);
  });

  it('answers asOf from the store, 400 for a future asOf, stale for an asOf far past the newest event', async () => {
    const t0 = Date.now() - 10 * 60_000;
    await h.publishEstimate(makeEstimate({ crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'truck', waitSeconds: 999, asOf: new Date(t0).toISOString(), lastEventAt: new Date(t0).toISOString(), revision: 1 }));
    const res = await app.inject(`/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=truck&asOf=${new Date(t0 + 60_000).toISOString()}`);
    expect(res.statusCode).toBe(200);
    expect(res.json().queues[0]).toMatchObject({ waitSeconds: 999, stale: false });
    expect(res.headers.etag).toBeDefined();
    const future = await app.inject(`/v1/crossings/nur-zholy/waits?asOf=${new Date(Date.now() + 3600_000).toISOString()}`);
    expect(future.statusCode).toBe(400);
    expect(future.json().error).toBe('bad_request');
    // the fixture store returns the same estimate for a later asOf; 2 h after its last event it is stale
    const far = await app.inject(`/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=truck&asOf=${encodeURIComponent(new Date(t0 + 2 * 3600_000).toISOString().replace('Z', '+00:00'))}`);
    expect(far.statusCode).toBe(400); // t0 + 2h is in the future
    const before = await app.inject(`/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=truck&asOf=${new Date(t0 - 3600_000).toISOString()}`);
    expect(before.json().queues[0]).toMatchObject({ method: 'prior', stale: true, lastEventAt: null });
    const badAsOf = await app.inject('/v1/crossings/nur-zholy/waits?asOf=yesterday');
    expect(badAsOf.statusCode).toBe(400);
    expect(badAsOf.json().details[0].path).toBe('query.asOf');
  });

  it('serves the bulk view with ETag/304 and every crossing', async () => {
    const res = await app.inject('/v1/waits');
    expect(res.statusCode).toBe(200);
    expect(res.json().crossings.map((c: { crossingId: string }) => c.crossingId)).toEqual(h.catalogue.crossings.map((c) => c.id));
    const again = await app.inject({ url: '/v1/waits', headers: { 'if-none-match': res.headers.etag as string } });
    expect(again.statusCode).toBe(304);
  });
});

describe('gzip for clients that accept it', () => {
  it('sends the bulk view gzipped with its own ETag and 304s, the same JSON once decompressed, and Vary: Accept-Encoding on both forms', async () => {
    const plain = await app.inject('/v1/waits');
    const gz = await app.inject({ url: '/v1/waits', headers: { 'accept-encoding': 'br;q=1.0, gzip;q=0.8, *;q=0.1' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gz.statusCode).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-type']).toBe('application/json; charset=utf-8');
    const raw = gz.rawPayload;
    expect(raw.length).toBeLessThan(plain.rawPayload.length / 4);
    expect(Number(gz.headers['content-length'])).toBe(raw.length);
    expect(gunzipSync(raw).toString('utf8')).toBe(plain.body);
    for (const res of [plain, gz]) expect(String(res.headers.vary).split(/,\s*/)).toEqual(['Origin', 'Accept-Encoding']);
    // two representations, two validators: each 304s its own form only
    const etag = gz.headers.etag as string;
    expect(etag).not.toBe(plain.headers.etag);
    expect((await app.inject({ url: '/v1/waits', headers: { 'accept-encoding': 'gzip', 'if-none-match': etag } })).statusCode).toBe(304);
    expect((await app.inject({ url: '/v1/waits', headers: { 'accept-encoding': 'gzip', 'if-none-match': plain.headers.etag as string } })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/waits', headers: { 'if-none-match': etag } })).statusCode).toBe(200);
    // refused by q=0, or not offered: the plain body
    for (const ae of ['gzip;q=0', 'identity', 'br', '*;q=1, gzip;q=0']) {
      const res = await app.inject({ url: '/v1/waits', headers: { 'accept-encoding': ae } });
      expect(res.headers['content-encoding'], ae).toBeUndefined();
      expect(res.body, ae).toBe(plain.body);
    }
    expect((await app.inject({ url: '/v1/waits', headers: { 'accept-encoding': '*' } })).headers['content-encoding']).toBe('gzip');
  });

  it('leaves a body under 1 KiB as it is, and gzips the crossing catalogue too', async () => {
    const small = await app.inject({ url: '/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck', headers: { 'accept-encoding': 'gzip' } });
    expect(small.rawPayload.length).toBeLessThan(GZIP_MIN_BYTES);
    expect(small.headers['content-encoding']).toBeUndefined();
    expect(small.json().queues).toHaveLength(1);
    const list = await app.inject({ url: '/v1/crossings', headers: { 'accept-encoding': 'gzip' } });
    expect(list.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(list.rawPayload).toString('utf8')).crossings).toHaveLength(h.catalogue.crossings.length);
  });
});

describe('crossings, health and the error shape', () => {
  it('lists crossings with names, zones, classes and queues', async () => {
    const res = await app.inject('/v1/crossings');
    expect(res.statusCode).toBe(200);
    const korday = res.json().crossings.find((c: { id: string }) => c.id === 'korday');
    expect(korday).toMatchObject({ names: { en: 'Korday' }, neighbourName: { en: 'Ak-Zhol' }, localZone: 'Asia/Almaty', status: 'open' });
    expect(korday.queues).toHaveLength(8);
    const one = await app.inject('/v1/crossings/nur-zholy');
    const nz = h.catalogue.get('nur-zholy')!;
    expect(one.json()).toMatchObject({ id: 'nur-zholy', vehicleClasses: nz.vehicleClasses, operatingHours: nz.operatingHours, timeZones: nz.timeZones });
    expect((await app.inject('/v1/crossings/atlantis')).statusCode).toBe(404);
  });

  it('derives a closed crossing status from its estimates', async () => {
    const until = new Date(Date.now() + 3600_000).toISOString();
    const c = h.catalogue.get('nur-zholy')!;
    let rev = 10;
    for (const d of c.directions) for (const vc of c.vehicleClasses) await h.publishEstimate(makeEstimate({ crossingId: c.id, direction: d, vehicleClass: vc, status: 'closed', statusUntil: until, revision: rev++ }));
    await waitFor(() => app.inject('/v1/crossings/nur-zholy').then((r) => r.json().status === 'closed'));
    expect((await app.inject('/v1/crossings/nur-zholy')).json().statusUntil).toBe(until);
  });

  it('healthz is alive; readyz reports degraded until the store is initialised, and asOf answers 503 meanwhile', async () => {
    expect((await app.inject('/healthz')).json()).toEqual({ status: 'alive' });
    await h.clearInitialised();
    const notReady = await app.inject('/readyz');
    expect(notReady.statusCode).toBe(503);
    expect(notReady.json()).toMatchObject({ status: 'degraded', checks: { store: { ok: false }, nats: { ok: true }, redis: { ok: true }, streams: { ok: true } } });
    const past = await app.inject(`/v1/crossings/korday/waits?asOf=${new Date(Date.now() - 3600_000).toISOString()}`);
    expect(past.statusCode).toBe(503);
    expect(past.headers['retry-after']).toBe('30');
    expect(past.json()).toMatchObject({ error: 'service_unavailable', message: expect.stringMatching(/being rebuilt/) });
    expect((await app.inject('/v1/crossings/korday/waits')).statusCode).toBe(200); // the latest view is still served
    await h.markInitialised();
    const ready = await app.inject('/readyz');
    expect(ready.json()).toMatchObject({ checks: { store: { ok: true }, estimator: { ok: true } } });
    expect(ready.statusCode).toBe(200);
  });

  it('readyz: old estimates with nothing waiting for the estimator are a quiet period (ready); with events waiting and no estimator, stale (degraded)', async () => {
    await h.markInitialised();
    expect(await h.eventsInStream()).toBe(0);
    const staleMs = h.config.STALE_AFTER_SECONDS * 1000;
    const later = await h.build({ now: () => Date.now() + 2 * staleMs }); // a quiet night: no estimate for 2x the limit
    const quiet = await later.inject('/readyz');
    expect(quiet.json().checks).toMatchObject({ consumer: { ok: true, pending: 0 }, estimator: { ok: true, reason: expect.stringMatching(/nothing pending/) } });
    expect(quiet.statusCode).toBe(200);
    // an event nobody consumes: the old estimates now mean a missing estimator, not a quiet border
    const event = { eventId: 'readyz-quiet-1', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car', type: 'vehicle.arrived', vehicleRef: 'QUIET-1', occurredAt: new Date(Date.now() + staleMs).toISOString() };
    const posted = await later.inject({ method: 'POST', url: '/v1/events', headers: bearer('producer'), payload: [event] });
    expect(posted.statusCode).toBe(202);
    const degraded = await later.inject('/readyz');
    expect(degraded.json().checks).toMatchObject({ consumer: { ok: false, pending: 1 }, estimator: { ok: false, reason: expect.stringMatching(/old \(limit/) } });
    expect(degraded.statusCode).toBe(503);
  });

  it('uses one error shape for unknown routes (404) and wrong methods (405)', async () => {
    const nf = await app.inject('/v1/nope');
    expect(nf.statusCode).toBe(404);
    expect(nf.json()).toEqual({ error: 'not_found', message: expect.any(String) });
    const m = await app.inject({ method: 'DELETE', url: '/v1/crossings/korday/waits' });
    expect(m.statusCode).toBe(405);
    expect(m.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect(m.json().message).toBe('DELETE is not allowed on /v1/crossings/korday/waits (allowed: GET, HEAD, OPTIONS)');
    expect(m.json().error).toBe('method_not_allowed');
  });

  it('serves the OpenAPI document with every API path', async () => {
    const res = await app.inject('/openapi.json');
    expect(res.statusCode).toBe(200);
    const paths = Object.keys(res.json().paths);
    expect(paths).toEqual(expect.arrayContaining(['/v1/events', '/v1/crossings', '/v1/crossings/{id}', '/v1/crossings/{id}/waits', '/v1/waits', '/readyz']));
    const docs = await app.inject('/docs/');
    expect(docs.statusCode).toBeLessThan(400);
  });

  it('documents the auth, rate-limit and body errors each route can give, beside its own', async () => {
    const doc = (await app.inject('/openapi.json')).json() as { paths: Record<string, Record<string, { responses: Record<string, { description?: string; headers?: Record<string, unknown> }>; parameters?: { in: string; name: string }[] }>> };
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path]![method]!.responses).sort();
    // a write: token, role, rate limit, body size and type, and the route's own 202/400/503
    expect(statuses('/v1/events', 'post')).toEqual(['202', '400', '401', '403', '413', '415', '429', '503']);
    expect(doc.paths['/v1/events']!.post!.responses['400']!.description).not.toMatch(/RATE_LIMIT/); // the route's own 400 is kept
    expect(doc.paths['/v1/events']!.post!.responses['429']!.headers).toHaveProperty('Retry-After');
    // a public read: an invalid token (or none with READ_AUTH=on) and the rate limit; no role to lack, no body
    expect(statuses('/v1/waits', 'get')).toEqual(expect.arrayContaining(['200', '401', '429']));
    expect(statuses('/v1/waits', 'get')).not.toContain('403');
    expect(statuses('/v1/waits', 'get')).not.toContain('415');
    // ops routes answer no auth errors
    expect(statuses('/readyz', 'get')).not.toContain('401');
    // the SSE resume header is a documented parameter
    expect(doc.paths['/v1/stream']!.get!.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'header', name: 'last-event-id' })]));
  });
});
