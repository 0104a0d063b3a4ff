/**
 * Property/fuzz tests of the HTTP surface (buildApp + inject, real NATS and Redis under a unique prefix, the real
 * queue store as the reader). Hostile bodies for POST /v1/events and hostile query strings / path ids for every
 * GET route: every answer is either a success the contract oracle (validateEvent) agrees with, or a precise 4xx
 * in the error shape `{ error, message, details? }`. Never a 5xx. Rejected input leaves the events stream and
 * the queue store unchanged. Counts per property are printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { validateEvent } from '../../shared/events/index.ts';
import { dumpKeys } from '../../shared/queue-store/dump.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { bearer, createHarness, makeEstimate, type Harness } from '../helpers/api-fixtures.ts';
import { STORE_DEFAULTS } from '../../shared/queue-store/store.ts';

const NUM_RUNS = Number(process.env.FUZZ_RUNS ?? 600);

const HOSTILE_STRINGS = [
  '', ' ', '\u0000', '\u202e', '💥🚛', 'Ωмега-жол', '__proto__', 'constructor', 'prototype', 'toString', '../../etc/passwd', '%00', '%ZZ',
  '<script>alert(1)</script>', "' OR 1=1 --", '${jndi:ldap://x}', 'a'.repeat(129), 'b'.repeat(10_000), '1e308', '-1', 'NaN', 'Infinity',
  '9007199254740993', '2026-11-22T08:15:00', '2026-11-22T08:15:00+05', '2026-11-22T08:15:00+25:00', '9999-12-31T23:59:59Z', '0001-01-01T00:00:00Z',
  '1999-12-31T23:59:59Z', '2026-02-30T10:00:00Z', '2026-11-22T08:15:00.1234567890123Z', 'KZ-KG', 'truck', 'korday', '24h', '0h', '999h', '1m', 'local',
];

const hostileString = fc.oneof(
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ minLength: 129, maxLength: 3000 }),
);
const hostileNumber = fc.oneof(fc.constantFrom(1e308, -1e308, 2 ** 53 + 1, -0, 0.5, -1, 1_000_001, 1001), fc.double({ noNaN: true }), fc.integer());
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hostileNumber,
  fc.constantFrom(null, true, false, [], {}),
  fc.jsonValue({ maxDepth: 3 }),
);

/** `depth` levels of [..] or {"a":..} around a value, as raw JSON text. */
const deepJson = (depth: number, obj: boolean, inner: string) => (obj ? '{"a":'.repeat(depth) + inner + '}'.repeat(depth) : '['.repeat(depth) + inner + ']'.repeat(depth));

describe('fuzzing the HTTP API', () => {
  let h: Harness;
  let app: FastifyInstance;
  let base = 0;
  beforeAll(async () => {
    h = await createHarness();
    const reader = createApiReader({ redis: h.redis, prefix: h.prefix, catalogue: h.catalogue, staleAfterSeconds: 900 });
    await createQueueStore({ redis: h.redis, prefix: h.prefix }).markInitialised(); // a rebuilt store: asOf and history answer (503 while not)
    await h.publishEstimate(makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' }));
    app = await h.build({ reader, deliverWebhooks: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  const storeState = () => dumpKeys(h.redis, `${h.prefix}:v1`);
  const assertErrorShape = (status: number, body: string, what: string) => {
    expect(status, `${what} -> ${status} ${body.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
    expect(status, `${what} -> ${status} ${body.slice(0, 300)}`).toBeLessThan(500);
    const json = JSON.parse(body) as Record<string, unknown>;
    expect(typeof json.error).toBe('string');
    expect(typeof json.message).toBe('string');
    expect(Object.keys(json).every((k) => ['error', 'message', 'details'].includes(k))).toBe(true);
    if (json.details !== undefined) {
      expect(Array.isArray(json.details)).toBe(true);
      for (const d of json.details as Record<string, unknown>[]) expect(typeof d.path === 'string' && typeof d.message === 'string').toBe(true);
    }
  };

  const valid = (id: string) => ({
    eventId: id, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck',
    occurredAt: new Date(Date.now() - 60_000).toISOString(), vehicleRef: '01KZ777ABC',
  });
  const FIELDS = ['eventId', 'type', 'crossingId', 'direction', 'vehicleClass', 'occurredAt', 'vehicleRef', 'source', 'queueLength', 'lanesOpen', 'status', 'until'];

  /** A raw JSON body: random JSON, a mutated valid event (or batch), duplicate keys, proto keys, deep nesting, huge. */
  const body = fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    {
      weight: 5,
      arbitrary: fc.tuple(fc.constantFrom(...FIELDS), hostileValue, fc.boolean(), fc.nat(3)).map(([field, value, batch, extra]) => {
        const id = `fz-${++base}`;
        const ev: Record<string, unknown> = { ...valid(id), [field]: value };
        const events = batch ? [valid(`${id}-a`), ev, ...Array.from({ length: extra }, (_, i) => valid(`${id}-${i}`))] : ev;
        return JSON.stringify(events);
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom(...FIELDS), hostileValue).map(([field, value]) => {
        const v = JSON.stringify(valid(`fz-${++base}`));
        return `${v.slice(0, -1)},${JSON.stringify(field)}:${JSON.stringify(value) ?? 'null'}}`; // duplicate key, last wins
      }),
    },
    {
      weight: 2,
      arbitrary: fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.boolean()).map(([key, nested]) => {
        const v = JSON.stringify(valid(`fz-${++base}`));
        const payload = nested ? '{"prototype":{"isAdmin":true}}' : '{"isAdmin":true}';
        return `${v.slice(0, -1)},"${key}":${payload}}`;
      }),
    },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 10, max: 20_000 }), fc.boolean()).map(([d, o]) => deepJson(d, o, JSON.stringify(valid(`fz-${++base}`)))) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }).map((k) => JSON.stringify({ ...valid(`fz-${++base}`), source: 'x'.repeat(k * 600_000) })) },
  );

  it('POST /v1/events: hostile bodies get a precise 4xx (or 202 when the contract accepts them), never a 5xx', { timeout: 120_000 }, async () => {
    const counts: Record<string, number> = {};
    const bump = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
    await fc.assert(
      fc.asyncProperty(body, async (raw) => {
        const streamBefore = await h.eventsInStream();
        const storeBefore = await storeState();
        const r = await app.inject({ method: 'POST', url: '/v1/events', headers: { ...bearer('producer'), 'content-type': 'application/json' }, payload: raw });
        bump(String(r.statusCode));
        // the oracle: the contract validator over what JSON.parse makes of the text (proto keys: fastify refuses them)
        const oracle = (): boolean => {
          try {
            const parsed: unknown = JSON.parse(raw);
            const items = Array.isArray(parsed) ? parsed : [parsed];
            return Buffer.byteLength(raw) <= 1024 * 1024 && !/"(__proto__|constructor)"\s*:/.test(raw) && items.length > 0 && items.length <= 1000 &&
              // the gateway also refuses what the store's retention would drop (routes/events.ts)
              items.every((i) => validateEvent(i, { catalogue: h.catalogue, oldestMs: Date.now() - STORE_DEFAULTS.retentionMs }).ok);
          } catch {
            return false;
          }
        };
        const oracleOk = oracle();
        if (oracleOk) {
          expect(r.statusCode, r.body).toBe(202);
          return;
        }
        assertErrorShape(r.statusCode, r.body, raw.slice(0, 200));
        expect(await h.eventsInStream()).toBe(streamBefore);
        expect(await storeState()).toEqual(storeBefore);
      }),
      { numRuns: NUM_RUNS },
    );
    console.log(`[fuzz:post-events] cases=${Object.values(counts).reduce((a, b) => a + b, 0)} byStatus=${JSON.stringify(counts)} 5xx=0`);
    expect(Object.keys(counts).some((s) => s.startsWith('5'))).toBe(false);
  });

  it('POST /v1/subscriptions and hostile Authorization / If-None-Match headers: 2xx or a precise 4xx, never a 5xx', { timeout: 60_000 }, async () => {
    const counts: Record<string, number> = {};
    const bump = (k: string) => (counts[k] = (counts[k] ?? 0) + 1);
    const SUB_FIELDS = ['url', 'crossingId', 'direction', 'vehicleClass', 'waitAboveSeconds', 'onClosure', '__proto__', 'extra'];
    const validSub = { url: 'https://hooks.example.com/kezek', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitAboveSeconds: 3600, onClosure: true };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...SUB_FIELDS), hostileValue, async (field, value) => {
        const raw = `${JSON.stringify(validSub).slice(0, -1)},${JSON.stringify(field)}:${JSON.stringify(value) ?? 'null'}}`;
        const r = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: { ...bearer('reader'), 'content-type': 'application/json' }, payload: raw });
        bump(`subs ${r.statusCode}`);
        if (r.statusCode !== 201) assertErrorShape(r.statusCode, r.body, raw.slice(0, 200));
      }),
      { numRuns: Math.round(NUM_RUNS / 2) },
    );
    const header = fc.oneof(hostileString, fc.constantFrom('Bearer', 'Bearer ', 'bearer reader-token-1', 'Bearer reader-token-1 extra', 'Basic abc', `Bearer ${'x'.repeat(8000)}`, 'Bearer \u0000'));
    await fc.assert(
      fc.asyncProperty(header, hostileString, async (auth, etag) => {
        const headers: Record<string, string> = {};
        // node refuses header values with control characters before the request exists: not an API case
        if (!/[\u0000-\u001f\u007f]/.test(auth)) headers.authorization = auth; // eslint-disable-line no-control-regex
        if (/^[\u0020-\u007e]*$/.test(etag)) headers['if-none-match'] = etag;
        const r = await app.inject({ method: 'GET', url: '/v1/crossings/korday/waits', headers });
        bump(`auth ${r.statusCode}`);
        if (r.statusCode >= 400) assertErrorShape(r.statusCode, r.body, `authorization=${auth.slice(0, 40)}`);
        if (r.statusCode === 401) expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="kezek"/);
      }),
      { numRuns: Math.round(NUM_RUNS / 2) },
    );
    console.log(`[fuzz:subscriptions+headers] cases=${Object.values(counts).reduce((a, b) => a + b, 0)} byStatus=${JSON.stringify(counts)} 5xx=0`);
    expect(Object.keys(counts).some((k) => / 5\d\d$/.test(k))).toBe(false);
  });

  const ROUTES: { path: (id: string) => string; params: string[]; auth?: boolean }[] = [
    { path: () => '/v1/crossings', params: [] },
    { path: (id) => `/v1/crossings/${id}`, params: [] },
    { path: (id) => `/v1/crossings/${id}/waits`, params: ['direction', 'vehicleClass', 'asOf'] },
    { path: () => '/v1/waits', params: ['direction', 'vehicleClass'] },
    { path: (id) => `/v1/crossings/${id}/history`, params: ['direction', 'vehicleClass', 'from', 'to', 'step', 'tz'] },
    { path: (id) => `/v1/crossings/${id}/forecast`, params: ['direction', 'vehicleClass', 'arriveAt'] },
    { path: (id) => `/v1/crossings/${id}/best-time`, params: ['direction', 'vehicleClass', 'within'] },
    { path: () => '/v1/subscriptions', params: [], auth: true },
    { path: (id) => `/v1/subscriptions/${id}`, params: [], auth: true },
    { path: (id) => `/v1/subscriptions/${id}/deliveries`, params: [], auth: true },
    { path: () => '/healthz', params: [] },
    { path: () => '/readyz', params: [] },
    { path: () => '/dashboard/meta.json', params: [] },
    { path: () => '/map.svg', params: [] },
  ];
  // a valid-looking baseline per parameter, so most cases get past the first check and reach the deeper ones
  const BASE: Record<string, string> = {
    direction: 'KZ-KG', vehicleClass: 'truck', asOf: new Date(Date.now() - 3600_000).toISOString(), from: new Date(Date.now() - 86_400_000).toISOString(),
    to: new Date().toISOString(), step: '1h', tz: 'local', arriveAt: new Date(Date.now() + 3600_000).toISOString(), within: '24h',
  };

  it('every GET route: hostile query parameters and path ids get 2xx or a precise 4xx, never a 5xx', { timeout: 120_000 }, async () => {
    const counts: Record<string, number> = {};
    const storeBefore = await storeState();
    const pathId = fc.oneof(fc.constantFrom('korday', 'nur-zholy', 'sub_abcdefgh12', 'KORDAY', '..', '%2e%2e', '%00'), hostileString.map((s) => encodeURIComponent(s.slice(0, 200))));
    const rawValue = fc.oneof(hostileString.map((s) => encodeURIComponent(s)), fc.constantFrom('%ZZ', '%', '%E0%A4%A', '+', '%2B05:00', ''));
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ROUTES.length - 1),
        pathId,
        fc.array(fc.tuple(fc.oneof(fc.constantFrom(...Object.keys(BASE), '__proto__', 'constructor', 'foo', ''), hostileString.map((s) => encodeURIComponent(s.slice(0, 50)))), rawValue), { maxLength: 4 }),
        fc.boolean(),
        async (ri, id, mutations, keepBase) => {
          const route = ROUTES[ri]!;
          const pairs: string[] = keepBase ? route.params.map((p) => `${p}=${encodeURIComponent(BASE[p]!)}`) : [];
          for (const [k, v] of mutations) pairs.push(`${k}=${v}`);
          const url = `${route.path(id)}${pairs.length ? `?${pairs.join('&')}` : ''}`;
          const r = await app.inject({ method: 'GET', url, headers: route.auth ? bearer('reader') : {} });
          const key = `${route.path(':id')} ${r.statusCode}`;
          counts[key] = (counts[key] ?? 0) + 1;
          // /readyz answers 503 {status:'degraded', checks} by design (no estimator runs here)
          if (route.path('') === '/readyz' && r.statusCode === 503) expect(r.json()).toMatchObject({ status: 'degraded' });
          else if (r.statusCode >= 400) assertErrorShape(r.statusCode, r.body, url);
          else expect(r.statusCode, url).toBeLessThan(400);
        },
      ),
      { numRuns: NUM_RUNS * 2 },
    );
    expect(await storeState()).toEqual(storeBefore);
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const byStatus: Record<string, number> = {};
    for (const [k, v] of Object.entries(counts)) byStatus[k.split(' ').at(-1)!] = (byStatus[k.split(' ').at(-1)!] ?? 0) + v;
    console.log(`[fuzz:get-queries] cases=${total} routes=${ROUTES.length} byStatus=${JSON.stringify(byStatus)} (503 = /readyz degraded only)`);
    expect(Object.entries(counts).filter(([k]) => / 5\d\d$/.test(k) && !k.startsWith('/readyz '))).toEqual([]);
  });
});
