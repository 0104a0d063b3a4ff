import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { jetstream } from '@nats-io/jetstream';
import { DateTime } from 'luxon';
import { pseudonymise } from '../../shared/privacy.ts';
import { bearer, createHarness, type Harness } from '../helpers/api-fixtures.ts';

let h: Harness;
let app: FastifyInstance;
const at = (minAgo = 1) => new Date(Date.now() - minAgo * 60_000).toISOString();
let n = 0;
const id = () => `ev-${Date.now()}-${++n}`;
const base = () => ({ eventId: id(), crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const, occurredAt: at() });

beforeAll(async () => {
  h = await createHarness();
  app = await h.build();
});
afterAll(async () => h.close());

const post = (payload: unknown, headers: Record<string, string> = bearer('producer')) =>
  app.inject({ method: 'POST', url: '/v1/events', payload: payload as object, headers: { 'content-type': 'application/json', ...headers } });

describe('POST /v1/events', () => {
  it.each([
    () => ({ ...base(), type: 'vehicle.arrived', vehicleRef: '01KZ777AAA' }),
    () => ({ ...base(), type: 'vehicle.arrived' }),
    () => ({ ...base(), type: 'vehicle.service_started', vehicleRef: 'X1' }),
    () => ({ ...base(), type: 'vehicle.crossed', vehicleRef: 'X1' }),
    () => ({ ...base(), type: 'vehicle.abandoned', vehicleRef: 'X2' }),
    () => ({ ...base(), type: 'lanes.changed', lanesOpen: 3 }),
    () => ({ ...base(), type: 'queue.observed', queueLength: 12 }),
    () => ({ eventId: id(), crossingId: 'korday', occurredAt: at(), type: 'crossing.status', status: 'closed', until: at(-60), reason: 'maintenance' }),
  ])('accepts a valid event (%#) and it is in the stream before the 202', async (mk) => {
    const before = await h.eventsInStream();
    const res = await post(mk());
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({ accepted: 1, duplicates: 0 });
    expect(await h.eventsInStream()).toBe(before + 1);
  });

  it.each([
    [{ type: 'vehicle.arrived', occurredAt: '2026-01-01T10:00:00' }, 'occurredAt'],
    [{ type: 'vehicle.service_started' }, 'vehicleRef'],
    [{ type: 'vehicle.crossed', vehicleRef: '' }, 'vehicleRef'],
    [{ type: 'vehicle.abandoned' }, 'vehicleRef'],
    [{ type: 'lanes.changed', lanesOpen: -2 }, 'lanesOpen'],
    [{ type: 'queue.observed', queueLength: 1.5 }, 'queueLength'],
    [{ type: 'vehicle.arrived', direction: 'KZ-CN' }, 'direction'],
    [{ type: 'vehicle.arrived', crossingId: 'atlantis' }, 'crossingId'],
    [{ type: 'teleported' }, 'type'],
    // a control character cannot travel in the msgID header: this used to fail every publish and answer 503 forever
    [{ type: 'vehicle.arrived', eventId: 'x\nY' }, 'eventId'],
    [{ type: 'vehicle.arrived', eventId: 'x\u0000Y' }, 'eventId'],
    // older than the store's retention: the estimator would dead-letter it (too_late) after a 202
    [{ type: 'vehicle.arrived', occurredAt: at(8 * 24 * 60) }, 'occurredAt'],
  ])('rejects an invalid event %j with a precise 400 at %s', async (patch, path) => {
    const before = await h.eventsInStream();
    const res = await post({ ...base(), ...patch });
    expect(res.statusCode).toBe(400);
    const body = res.json();
    expect(body.error).toBe('bad_request');
    expect(body.details).toEqual(expect.arrayContaining([expect.objectContaining({ index: 0, path })]));
    expect(await h.eventsInStream()).toBe(before);
  });

  it("refuses lanesOpen above the catalogue's lanesMax for the event's class, naming the field and the limit", async () => {
    const before = await h.eventsInStream();
    // korday: at most 4 truck lanes per direction, 8 car lanes (seeds/crossings.json)
    const res = await post({ ...base(), type: 'lanes.changed', lanesOpen: 5 });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'bad_request', details: [{ index: 0, path: 'lanesOpen', message: 'must be <= 4: korday has at most 4 truck lanes per direction' }] });
    // officials, who set lanes from the dashboard, hear the same
    const official = await post({ ...base(), type: 'lanes.changed', lanesOpen: 9, vehicleClass: 'car' }, bearer('official'));
    expect(official.statusCode).toBe(400);
    expect(official.json().details).toEqual([{ index: 0, path: 'lanesOpen', message: 'must be <= 8: korday has at most 8 car lanes per direction' }]);
    expect(await h.eventsInStream()).toBe(before);
    // the limit itself, and another class's larger limit, are accepted
    expect((await post([{ ...base(), type: 'lanes.changed', lanesOpen: 4 }, { ...base(), type: 'lanes.changed', vehicleClass: 'car', lanesOpen: 5 }])).statusCode).toBe(202);
  });

  it('rejects an invalid crossing.status (until before occurredAt)', async () => {
    const res = await post({ eventId: id(), crossingId: 'korday', occurredAt: at(), type: 'crossing.status', status: 'closed', until: at(10) });
    expect(res.statusCode).toBe(400);
    expect(res.json().details[0].path).toBe('until');
  });

  it('is all-or-nothing: one bad event in a batch rejects the batch and nothing reaches the stream', async () => {
    const before = await h.eventsInStream();
    const batch = [{ ...base(), type: 'vehicle.arrived' }, { ...base(), type: 'lanes.changed', lanesOpen: 'three' }, { ...base(), type: 'vehicle.arrived' }];
    const res = await post(batch);
    expect(res.statusCode).toBe(400);
    expect(res.json().details).toEqual([expect.objectContaining({ index: 1, path: 'lanesOpen' })]);
    expect(res.json().message).toMatch(/1 of 3/);
    expect(await h.eventsInStream()).toBe(before);
  });

  it('stores a re-sent event or a re-sent batch once and reports it as duplicates', async () => {
    const before = await h.eventsInStream();
    const ev = { ...base(), type: 'vehicle.arrived', vehicleRef: 'DUP1' };
    expect((await post(ev)).json()).toEqual({ accepted: 1, duplicates: 0 });
    expect((await post(ev)).json()).toEqual({ accepted: 0, duplicates: 1 });
    const batch = [{ ...base(), type: 'vehicle.arrived' }, { ...base(), type: 'vehicle.arrived' }];
    expect((await post(batch)).json()).toEqual({ accepted: 2, duplicates: 0 });
    expect((await post(batch)).json()).toEqual({ accepted: 0, duplicates: 2 }); // a retry of the same request
    expect(await h.eventsInStream()).toBe(before + 2); // the single event, and the batch as one message
    // an eventId twice in one request: published once, the repeat counted as a duplicate
    const again = { ...base(), type: 'vehicle.arrived' };
    expect((await post([again, { ...base(), type: 'vehicle.arrived' }, again])).json()).toEqual({ accepted: 2, duplicates: 1 });
    expect(await h.eventsInStream()).toBe(before + 3);
    // the same instant spelled with another offset is the same event
    const utc = { ...base(), type: 'vehicle.arrived' as const };
    const local = { ...utc, occurredAt: DateTime.fromISO(utc.occurredAt).setZone('UTC+5').toISO()! };
    expect(local.occurredAt).not.toBe(utc.occurredAt);
    expect((await post([utc, local])).json()).toEqual({ accepted: 1, duplicates: 1 });
    expect(await h.eventsInStream()).toBe(before + 4);
    // so is the same plate sent once in clear and once as its pseudonym
    const clear = { ...base(), type: 'vehicle.arrived' as const, vehicleRef: '01KZ999PSEUDO' };
    const pseudo = { ...clear, vehicleRef: pseudonymise('01KZ999PSEUDO', h.config.PSEUDONYM_KEY!) };
    expect((await post([clear, pseudo])).json()).toEqual({ accepted: 1, duplicates: 1 });
  });

  it('refuses a batch that repeats an eventId with different content, naming the repeat, and stores nothing', async () => {
    const before = await h.eventsInStream();
    const first = { ...base(), type: 'vehicle.arrived', vehicleRef: 'CONFLICT1' };
    const other = { ...base(), type: 'vehicle.arrived' };
    const later = { ...first, occurredAt: DateTime.fromISO(first.occurredAt).plus({ seconds: 1 }).toISO()! };
    const otherRef = { ...first, vehicleRef: 'CONFLICT2' };
    const res = await post([first, other, later, first, otherRef]);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/2 events repeat eventIds of the batch with different content; nothing was accepted/);
    expect(res.json().details).toEqual([
      { index: 2, path: 'eventId', message: 'repeats the eventId of event 0 with different content (an eventId names one event)' },
      { index: 4, path: 'eventId', message: 'repeats the eventId of event 0 with different content (an eventId names one event)' },
    ]);
    expect(await h.eventsInStream()).toBe(before);
  });

  it('publishes a batch as one message per crossing and direction, the events in their order, refs pseudonymised', async () => {
    const before = await h.eventsInStream();
    const kg = (extra: object) => ({ ...base(), direction: 'KG-KZ', ...extra });
    const batch = [
      { ...base(), type: 'vehicle.arrived', vehicleRef: '01KZ555PLATE' },
      kg({ type: 'vehicle.arrived' }),
      { eventId: id(), crossingId: 'korday', occurredAt: at(), type: 'crossing.status', status: 'open' },
      { ...base(), type: 'queue.observed', queueLength: 7 },
      kg({ type: 'lanes.changed', lanesOpen: 2 }),
    ];
    expect((await post(batch)).json()).toEqual({ accepted: 5, duplicates: 0 });
    expect(await h.eventsInStream()).toBe(before + 3);
    const js = jetstream(h.nc);
    const c = await js.consumers.get(h.config.KEZEK_PREFIX.toUpperCase() + '_EVENTS', { opt_start_seq: before + 1 });
    const got: { subject: string; ids: string[]; msgID: string | undefined; text: string }[] = [];
    for (let i = 0; i < 3; i++) {
      const m = (await c.next({ expires: 2000 }))!;
      const body = m.json<unknown>();
      const evs = (Array.isArray(body) ? body : [body]) as { eventId: string }[];
      got.push({ subject: m.subject, ids: evs.map((e) => e.eventId), msgID: m.headers?.get('Nats-Msg-Id'), text: m.string() });
    }
    const p = h.config.KEZEK_PREFIX;
    expect(got.map((g) => [g.subject, g.ids])).toEqual([
      [`${p}.v1.events.korday.KZ-KG`, [batch[0]!.eventId, batch[3]!.eventId]],
      [`${p}.v1.events.korday.KG-KZ`, [batch[1]!.eventId, batch[4]!.eventId]],
      [`${p}.v1.events.korday.all`, [batch[2]!.eventId]],
    ]);
    expect(got[0]!.msgID).toMatch(/^batch:[0-9a-f]{128}$/);
    expect(got[2]!.msgID).toBe(batch[2]!.eventId); // a group of one is the event itself
    expect(got[0]!.text).not.toContain('01KZ555PLATE');
    expect(got[0]!.text).toMatch(/"vehicleRef":"ps1_/);
  });

  it('pseudonymises vehicle refs before publishing', async () => {
    const ev = { ...base(), type: 'vehicle.arrived', vehicleRef: '01KZ999PLATE' };
    const before = await h.eventsInStream();
    expect((await post(ev)).statusCode).toBe(202);
    const js = jetstream(h.nc);
    const c = await js.consumers.get(h.config.KEZEK_PREFIX.toUpperCase() + '_EVENTS', { opt_start_seq: before + 1 });
    const m = await c.next({ expires: 2000 });
    expect(m).not.toBeNull();
    const stored = m!.json<{ vehicleRef: string; eventId: string }>();
    expect(stored.eventId).toBe(ev.eventId);
    expect(stored.vehicleRef).toMatch(/^ps1_/);
    expect(m!.string()).not.toContain('01KZ999PLATE');
  });

  it('accepts a batch of 1000 (one queue: 10 messages of 100 events) and rejects 1001', async () => {
    const before = await h.eventsInStream();
    const ok = Array.from({ length: 1000 }, () => ({ ...base(), type: 'vehicle.arrived' }));
    const res = await post(ok);
    expect(res.statusCode).toBe(202);
    expect(res.json().accepted).toBe(1000);
    expect(await h.eventsInStream()).toBe(before + 10);
    const tooMany = Array.from({ length: 1001 }, () => ({ ...base(), type: 'vehicle.arrived' }));
    const res2 = await post(tooMany);
    expect(res2.statusCode).toBe(400);
    expect(res2.json().message).toMatch(/at most 1000/);
  });

  it('requires a token: 401 with WWW-Authenticate when missing or wrong, 403 for a reader', async () => {
    const ev = { ...base(), type: 'vehicle.arrived' };
    const missing = await post(ev, {});
    expect(missing.statusCode).toBe(401);
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(missing.json().error).toBe('unauthorized');
    const wrong = await post(ev, { authorization: 'Bearer not-a-real-token' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error).toBe('unauthorized');
    const reader = await post(ev, bearer('reader'));
    expect(reader.statusCode).toBe(403);
    expect(reader.json().error).toBe('forbidden');
    const admin = await post(ev, bearer('admin'));
    expect(admin.statusCode).toBe(202);
  });

  it('lets officials post only lanes.changed and crossing.status', async () => {
    expect((await post({ ...base(), type: 'lanes.changed', lanesOpen: 2 }, bearer('official'))).statusCode).toBe(202);
    const res = await post({ ...base(), type: 'vehicle.arrived' }, bearer('official'));
    expect(res.statusCode).toBe(403);
    expect(res.json().details[0]).toMatchObject({ index: 0, path: 'type' });
    // a role problem is answered before a batch's eventId conflict (403, not 400)
    const lanes = { ...base(), type: 'lanes.changed', lanesOpen: 2 };
    const both = await post([lanes, { ...lanes, lanesOpen: 3 }, { ...base(), type: 'vehicle.arrived' }], bearer('official'));
    expect(both.statusCode).toBe(403);
  });

  it('answers 413 for a body over 1 MiB, 415 for non-JSON, 400 for bad JSON, all in the error shape', async () => {
    const big = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...bearer('producer') }, payload: `[${'"x",'.repeat(300_000)}"x"]` });
    expect(big.statusCode).toBe(413);
    expect(big.json()).toMatchObject({ error: 'payload_too_large', message: 'request body is too large (at most 1 MiB)' });
    const text = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'text/plain', ...bearer('producer') }, payload: 'hello' });
    expect(text.statusCode).toBe(415);
    expect(text.json()).toMatchObject({ error: 'unsupported_media_type' });
    const xml = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/xml', ...bearer('producer') }, payload: '<a/>' });
    expect(xml.statusCode).toBe(415);
    const bad = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...bearer('producer') }, payload: '{"eventId": ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'bad_request', message: expect.stringMatching(/JSON/) });
    const gz = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', ...bearer('producer') }, payload: Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0]) });
    expect(gz.statusCode).toBe(415);
    expect(gz.json()).toMatchObject({ error: 'unsupported_media_type', message: 'Content-Encoding "gzip" is not supported: send the body uncompressed' });
    const notObj = await post(42);
    expect(notObj.statusCode).toBe(400);
    const empty = await post([]);
    expect(empty.statusCode).toBe(400);
  });

  it('refuses a __proto__ or constructor.prototype key with a 400 that says so (valid JSON refused for safety, not "not valid JSON")', async () => {
    const raw = (payload: string, contentType = 'application/json') =>
      app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': contentType, ...bearer('producer') }, payload });
    const refused = (key: string, path: string) => ({
      error: 'bad_request',
      message: `request body contains a forbidden key "${key}" (prototype pollution protection)`,
      details: [{ path, message: 'forbidden key' }],
    });
    const ev = () => JSON.stringify({ ...base(), type: 'vehicle.arrived' }); // '{"eventId":...}'
    const before = await h.eventsInStream();
    const cases: [string, string, string, string?][] = [
      [`{"__proto__":{"x":1},${ev().slice(1)}`, '__proto__', 'body.__proto__'],
      ['[{"__proto__":{}}]', '__proto__', 'body[0].__proto__'],
      // escaped in the JSON text, and deep in the second event of a batch, with a charset parameter
      [`[${ev()},{"a":{"\\u005f_proto__":{"isAdmin":true}}}]`, '__proto__', 'body[1].a.__proto__', 'application/json; charset=utf-8'],
      [`{"constructor":{"prototype":{"isAdmin":true}},${ev().slice(1)}`, 'constructor.prototype', 'body.constructor.prototype'],
      // 5000 levels deep: found without recursion, the path cut to its last 20 steps
      [`${'['.repeat(5000)}{"__proto__":1}${']'.repeat(5000)}`, '__proto__', `body.…${'[0]'.repeat(19)}.__proto__`],
    ];
    for (const [payload, key, path, type] of cases) {
      const res = await raw(payload, type);
      expect(res.statusCode, payload.slice(0, 80)).toBe(400);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.json(), payload.slice(0, 80)).toEqual(refused(key, path));
    }
    expect(await h.eventsInStream()).toBe(before);
    // what the JSON parser did before is unchanged: malformed and empty bodies, a BOM, a charset, a constructor key alone
    expect((await raw('{"eventId": ')).json()).toEqual({ error: 'bad_request', message: 'request body is not valid JSON' });
    expect((await raw('')).json()).toEqual({ error: 'bad_request', message: 'request body is empty; send JSON' });
    expect((await raw(`\uFEFF${ev()}`)).statusCode).toBe(202);
    expect((await raw(ev(), 'application/json; charset=utf-8')).statusCode).toBe(202);
    const ctor = await raw(`{"constructor":{"name":"x"},${ev().slice(1)}`);
    expect(ctor.statusCode).toBe(400);
    expect(ctor.json().details[0]).toMatchObject({ message: 'unknown field(s): constructor' }); // parsed, then refused by the contract
    expect(await h.eventsInStream()).toBe(before + 2);
  });

  it('answers 503 with Retry-After when NATS is gone, and never reports the batch as accepted', async () => {
    const h2 = await createHarness();
    const app2 = await h2.build();
    await h2.nc.close();
    const res = await app2.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...bearer('producer') }, payload: { ...base(), type: 'vehicle.arrived' } });
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.json().error).toBe('service_unavailable');
    await h2.close();
  });
});
