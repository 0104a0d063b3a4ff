/**
 * The OpenAPI document (/openapi.json) against what the API really answers. Real responses of every documented
 * operation that answers JSON (waits, bulk waits, crossings, history, forecast, best-time, subscriptions and their
 * delivery log, ingest, health) are validated with Ajv against the document's schema for their status and media
 * type, with every object that lists its properties held to them: a key the document does not name is an error,
 * so a field added to a response without documenting it fails here. The data is realistic: the estimator's real
 * queue store fed with events, estimates published on the stream, and a webhook really delivered.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { QueueStore } from '../../shared/queue-store/store.ts';
import { bearer, createHarness, makeEstimate, seedRealStore, type Harness } from '../helpers/api-fixtures.ts';
import { until } from '../helpers/until.ts';

type Schema = Record<string, unknown>;
interface Media {
  schema?: Schema;
  example?: unknown;
}
interface Operation {
  responses: Record<string, { description?: string; content?: Record<string, Media> }>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
}

// ajv-formats is CommonJS: its default export arrives wrapped depending on the loader
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * A copy of `schema` in which every object that lists `properties` and says nothing about other keys refuses
 * them (`additionalProperties: false`), at any depth: the document must name every key a response carries.
 */
function strictCopy(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strictCopy);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema)) {
    // example values are data, not schemas
    out[k] = k === 'example' || k === 'examples' || k === 'enum' || k === 'const' || k === 'default' ? v : k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, strictCopy(s)])) : strictCopy(v);
  }
  if ('properties' in out && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Places in a schema that would let any value through undescribed (`{}`, or an object with no keys named). */
function undescribed(schema: unknown, at = '#'): string[] {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return [];
  const s = schema as Schema;
  const out: string[] = [];
  const keys = Object.keys(s).filter((k) => k !== 'description' && k !== 'example' && k !== 'examples');
  if (keys.length === 0) out.push(`${at}: any value`);
  if (s.type === 'object' && s.properties === undefined && s.additionalProperties === undefined && s.anyOf === undefined && s.oneOf === undefined) out.push(`${at}: object with no keys named`);
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties') for (const [p, sub] of Object.entries(v as Schema)) out.push(...undescribed(sub, `${at}/properties/${p}`));
    else if (k === 'items' || k === 'additionalProperties' || k === 'not') out.push(...undescribed(v, `${at}/${k}`));
    else if (k === 'anyOf' || k === 'oneOf' || k === 'allOf') (v as unknown[]).forEach((sub, i) => out.push(...undescribed(sub, `${at}/${k}/${i}`)));
  }
  return out;
}

const newAjv = () => {
  // OpenAPI 3.0 adds `example` to JSON Schema (`nullable` Ajv knows); anything else unknown is an error (strict)
  const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: true });
  ajv.addVocabulary(['example']);
  addFormats(ajv);
  return ajv;
};

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

async function receiver() {
  const got: string[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
  return { got, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let h: Harness;
let app: FastifyInstance;
let store: QueueStore;
let doc: OpenApiDoc;
let rx: Awaited<ReturnType<typeof receiver>>;
let subId: string;
const MIN = 60_000;
const t0 = Math.floor((Date.now() - 90 * MIN) / MIN) * MIN;
const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' as const };

beforeAll(async () => {
  // the receiver listens on 127.0.0.1: this deployment may deliver to private addresses
  h = await createHarness({ WEBHOOK_PRIVATE_TARGETS: 'on' });
  store = await seedRealStore(h, t0);
  await store.markInitialised();
  app = await h.build({ reader: store, webhooks: { baseDelayMs: 50, maxAttempts: 2, timeoutMs: 2000, subscriptionCacheMs: 0 } });
  doc = (await app.inject('/openapi.json')).json() as OpenApiDoc;

  // live estimates: an open queue with a wait, and a closure with a known reopening (which fires the webhook)
  rx = await receiver();
  const created = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: rx.url, crossingId: 'zhibek-zholy', onClosure: true } });
  if (created.statusCode !== 201) throw new Error(created.body);
  subId = created.json().id;
  await h.publishEstimate(makeEstimate({ ...q, queueLength: 40, waitSeconds: 4 * 3600, revision: 2, staleAt: new Date(Date.now() + 15 * MIN).toISOString() }));
  const zz = { crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car' as const };
  await h.publishEstimate(makeEstimate({ ...zz, revision: 1 }));
  await h.publishEstimate(makeEstimate({ ...zz, status: 'closed', statusUntil: new Date(Date.now() + 2 * 3600_000).toISOString(), statusReason: 'inspection', method: 'closed-known-reopening', waitSeconds: 9000, revision: 2 }));
  // closed with no announced reopening: no wait figure anywhere (nulls in waits, forecast and best-time)
  await h.publishEstimate(makeEstimate({ crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'truck', status: 'closed', statusReason: 'quarantine', method: 'closed-unknown-reopening', waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, revision: 1 }));
  await until('the webhook delivery to be logged', async () => (await app.kezek.store.deliveries(subId)).length > 0);
  await until('the live estimates in the view', async () =>
    (await app.inject('/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck')).json().queues[0].revision === 2 &&
    (await app.inject('/v1/crossings/nur-zholy/waits?direction=KZ-CN&vehicleClass=truck')).json().queues[0].revision === 1);
});
afterAll(async () => {
  await rx?.close();
  await h?.close();
});

interface Call {
  /** `METHOD /path/{template}` as in the document */
  op: string;
  url: string;
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: Record<string, string>;
  payload?: unknown;
  status: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const calls = (): Call[] => [
  { op: 'GET /healthz', url: '/healthz', status: 200 },
  // readiness answers 200 or 503 depending on the estimator's consumer here; either must match its own schema
  { op: 'GET /readyz', url: '/readyz', status: 0 },
  { op: 'GET /v1/crossings', url: '/v1/crossings', status: 200 },
  { op: 'GET /v1/crossings/{id}', url: '/v1/crossings/korday', status: 200 },
  { op: 'GET /v1/crossings/{id}', url: '/v1/crossings/zhibek-zholy', status: 200 },
  { op: 'GET /v1/crossings/{id}', url: '/v1/crossings/atlantis', status: 404 },
  { op: 'GET /v1/crossings/{id}/waits', url: '/v1/crossings/korday/waits', status: 200 },
  { op: 'GET /v1/crossings/{id}/waits', url: '/v1/crossings/zhibek-zholy/waits?vehicleClass=car', status: 200 },
  { op: 'GET /v1/crossings/{id}/waits', url: `/v1/crossings/korday/waits?direction=KZ-KG&vehicleClass=truck&asOf=${iso(t0 + 5 * MIN)}`, status: 200 },
  { op: 'GET /v1/crossings/{id}/waits', url: '/v1/crossings/korday/waits?vehicleClass=boat', status: 400 },
  { op: 'GET /v1/waits', url: '/v1/waits', status: 200 },
  { op: 'GET /v1/crossings/{id}/history', url: `/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${iso(t0)}&to=${iso(t0 + 30 * MIN)}&step=5m`, status: 200 },
  { op: 'GET /v1/crossings/{id}/history', url: `/v1/crossings/korday/history?direction=KZ-KG&vehicleClass=truck&from=${iso(t0)}&step=15m&tz=local`, status: 200 },
  { op: 'GET /v1/crossings/{id}/forecast', url: `/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck&arriveAt=${encodeURIComponent(iso(Date.now() + 3 * 3600_000))}`, status: 200 },
  { op: 'GET /v1/crossings/{id}/forecast', url: `/v1/crossings/zhibek-zholy/forecast?direction=KZ-UZ&vehicleClass=car&arriveAt=${encodeURIComponent(iso(Date.now() + 30 * MIN))}`, status: 200 },
  { op: 'GET /v1/crossings/{id}/forecast', url: `/v1/crossings/nur-zholy/forecast?direction=KZ-CN&vehicleClass=truck&arriveAt=${encodeURIComponent(iso(Date.now() + 30 * MIN))}`, status: 200 },
  { op: 'GET /v1/crossings/{id}/forecast', url: '/v1/crossings/korday/forecast?direction=KZ-KG&vehicleClass=truck', status: 400 },
  { op: 'GET /v1/crossings/{id}/best-time', url: '/v1/crossings/korday/best-time?direction=KZ-KG&vehicleClass=truck', status: 200 },
  { op: 'GET /v1/crossings/{id}/best-time', url: '/v1/crossings/zhibek-zholy/best-time?direction=KZ-UZ&vehicleClass=car&within=6h', status: 200 },
  { op: 'GET /v1/crossings/{id}/best-time', url: '/v1/crossings/nur-zholy/best-time?direction=KZ-CN&vehicleClass=truck', status: 200 },
  { op: 'GET /v1/crossings/{id}/waits', url: '/v1/crossings/nur-zholy/waits?direction=KZ-CN', status: 200 },
  { op: 'GET /v1/subscriptions', url: '/v1/subscriptions', headers: bearer('reader'), status: 200 },
  { op: 'GET /v1/subscriptions/{id}', url: `/v1/subscriptions/${subId}`, headers: bearer('reader'), status: 200 },
  { op: 'GET /v1/subscriptions/{id}/deliveries', url: `/v1/subscriptions/${subId}/deliveries`, headers: bearer('reader'), status: 200 },
  { op: 'GET /v1/subscriptions', url: '/v1/subscriptions', status: 401 },
  { op: 'POST /v1/subscriptions', method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: 'https://ops.example.kz/kezek-hook', crossingId: 'korday', vehicleClass: 'truck', waitAboveSeconds: 7200 }, status: 201 },
  { op: 'POST /v1/subscriptions', method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: 'ftp://x/y', crossingId: 'korday', onClosure: true }, status: 400 },
  {
    op: 'POST /v1/events', method: 'POST', url: '/v1/events', headers: bearer('producer'), status: 202,
    payload: [{ eventId: 'openapi-1', type: 'vehicle.arrived', ...q, occurredAt: iso(Date.now() - MIN), vehicleRef: '01KZ123ABC' }],
  },
];

describe('the OpenAPI document describes the real responses', () => {
  it('every JSON response of every documented operation matches its documented schema, naming every key it carries', async () => {
    const ajv = newAjv();
    const compiled = new Map<Schema, ValidateFunction>();
    const problems: string[] = [];
    const exercised = new Set<string>();
    for (const call of calls()) {
      const res = await app.inject({ method: call.method ?? 'GET', url: call.url, headers: call.headers, ...(call.payload === undefined ? {} : { payload: call.payload as object }) });
      const where = `${call.op} (${call.method ?? 'GET'} ${call.url}) -> ${res.statusCode}`;
      if (call.status !== 0 && res.statusCode !== call.status) {
        problems.push(`${where}: expected ${call.status}: ${res.body.slice(0, 300)}`);
        continue;
      }
      const [method, path] = call.op.split(' ') as [string, string];
      const op = doc.paths[path]?.[method.toLowerCase()];
      if (!op) {
        problems.push(`${where}: the document has no such operation`);
        continue;
      }
      const documented = op.responses[String(res.statusCode)];
      if (!documented) {
        problems.push(`${where}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`);
        continue;
      }
      const type = mediaType(res.headers['content-type'] as string | undefined);
      const media = documented.content?.[type];
      if (!media?.schema) {
        problems.push(`${where}: answered ${type}, documented ${Object.keys(documented.content ?? {}).join(', ') || 'no content'}`);
        continue;
      }
      if (res.statusCode >= 200 && res.statusCode < 300) exercised.add(call.op);
      let validate = compiled.get(media.schema);
      if (!validate) {
        validate = ajv.compile(strictCopy(media.schema) as Schema);
        compiled.set(media.schema, validate);
      }
      if (!validate(res.json())) problems.push(`${where}: ${ajv.errorsText(validate.errors, { separator: '; ' })}`);
    }
    expect(problems).toEqual([]);

    // nothing documented to answer JSON is left out of this test
    const jsonOps = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => Object.entries(op.responses).some(([status, r]) => status.startsWith('2') && r.content?.['application/json']))
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(jsonOps.filter((op) => !exercised.has(op))).toEqual([]);
  });

  it('documents every JSON body field by field (no schema that lets anything through) and its examples match it', async () => {
    const ajv = newAjv();
    const problems: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        for (const [status, r] of Object.entries(op.responses)) {
          for (const [type, media] of Object.entries(r.content ?? {})) {
            const where = `${method.toUpperCase()} ${path} ${status} ${type}`;
            if (!media.schema) {
              problems.push(`${where}: no schema`);
              continue;
            }
            if (type === 'application/json') problems.push(...undescribed(media.schema).map((p) => `${where} ${p}`));
            if (media.example !== undefined) {
              const validate = ajv.compile(strictCopy(media.schema) as Schema);
              if (!validate(media.example)) problems.push(`${where} example: ${ajv.errorsText(validate.errors, { separator: '; ' })}`);
            }
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('documents the event stream as text/event-stream, the media type it is served with, and its errors as JSON', async () => {
    const responses = doc.paths['/v1/stream']!.get!.responses;
    expect(Object.keys(responses['200']!.content ?? {})).toEqual(['text/event-stream']);
    const head = await app.inject({ method: 'HEAD', url: '/v1/stream?crossingId=korday' });
    expect(head.statusCode).toBe(200);
    expect(mediaType(head.headers['content-type'] as string)).toBe('text/event-stream');
    const unknown = await app.inject('/v1/stream?crossingId=atlantis');
    expect(unknown.statusCode).toBe(404);
    expect(mediaType(unknown.headers['content-type'] as string)).toBe('application/json');
    expect(Object.keys(responses['404']!.content ?? {})).toEqual(['application/json']);
  });

  it('catches an undocumented key (the check itself)', () => {
    const ajv = newAjv();
    const schema = { type: 'object', properties: { a: { type: 'object', properties: { b: { type: 'number' } }, required: ['b'] } }, required: ['a'] };
    const validate = ajv.compile(strictCopy(schema) as Schema);
    expect(validate({ a: { b: 1 } })).toBe(true);
    expect(validate({ a: { b: 1, extra: true } })).toBe(false);
    expect(validate({ a: { b: 1 }, extra: true })).toBe(false);
    expect(undescribed({ type: 'object', properties: { a: {}, b: { type: 'object' } } })).toEqual(['#/properties/a: any value', '#/properties/b: object with no keys named']);
  });
});
