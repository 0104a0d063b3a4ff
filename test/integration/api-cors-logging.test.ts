/**
 * CORS (services/api/cors.ts) and the access-log policy (services/api/request-log.ts) against a real app on real
 * NATS and Redis: `*` and listed origins, preflights, and which requests are logged at which level.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { FastifyBaseLogger } from 'fastify';
import { REDACT_PATHS } from '../../shared/logger.ts';
import { bearer, createHarness, type Harness } from '../helpers/api-fixtures.ts';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => h.close());

describe('CORS', () => {
  it('with CORS_ORIGINS=* a cross-origin request is allowed and sees ETag; a request without Origin gets no CORS headers, every response varies on Origin; preflight 204', async () => {
    const app = await h.build();
    const browser = await app.inject({ url: '/v1/crossings/korday/waits', headers: { origin: 'https://fleet.example' } });
    expect(browser.headers['access-control-allow-origin']).toBe('*');
    expect(String(browser.headers['access-control-expose-headers'])).toMatch(/\bETag\b/);
    expect(browser.headers.vary).toMatch(/Origin/);
    const plain = await app.inject('/v1/crossings/korday/waits');
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    expect(plain.headers['access-control-expose-headers']).toBeUndefined();
    expect(plain.headers.vary).toMatch(/Origin/);
    // the security headers come with them, on matched routes and on a 404 alike
    expect(plain.headers['x-content-type-options']).toBe('nosniff');
    const missing = await app.inject({ url: '/v1/nothing-here', headers: { origin: 'https://fleet.example' } });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['x-content-type-options']).toBe('nosniff');
    expect(missing.headers['access-control-allow-origin']).toBe('*');
    const page = await app.inject('/');
    expect(page.headers['content-security-policy']).toBeDefined();
    expect(page.headers.vary).toMatch(/Origin/);
    const pre = await app.inject({ method: 'OPTIONS', url: '/v1/crossings/korday/waits', headers: { origin: 'https://fleet.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'if-none-match' } });
    expect(pre.statusCode).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('*');
    expect(String(pre.headers['access-control-allow-methods'])).toMatch(/GET/);
    expect(String(pre.headers['access-control-allow-headers'])).toMatch(/If-None-Match/i);
    expect(Number(pre.headers['access-control-max-age'])).toBeGreaterThan(0);
  });

  it('with a list, a listed origin is echoed with Vary: Origin; others get no allow-origin, and their preflight is 403 in the error shape', async () => {
    const app = await h.build({}, { CORS_ORIGINS: 'https://ops.example, https://fleet.example' });
    const ok = await app.inject({ url: '/v1/waits', headers: { origin: 'https://fleet.example' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://fleet.example');
    expect(ok.headers.vary).toMatch(/Origin/);
    const other = await app.inject({ url: '/v1/waits', headers: { origin: 'https://evil.example' } });
    expect(other.statusCode).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    expect(other.headers.vary).toMatch(/Origin/);
    const none = await app.inject('/v1/waits');
    expect(none.headers['access-control-allow-origin']).toBeUndefined();
    expect(none.headers.vary).toMatch(/Origin/);
    const goodPre = await app.inject({ method: 'OPTIONS', url: '/v1/events', headers: { origin: 'https://ops.example', 'access-control-request-method': 'POST' } });
    expect(goodPre.statusCode).toBe(204);
    expect(goodPre.headers['access-control-allow-origin']).toBe('https://ops.example');
    const badPre = await app.inject({ method: 'OPTIONS', url: '/v1/events', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(badPre.statusCode).toBe(403);
    expect(badPre.json()).toMatchObject({ error: 'forbidden', message: expect.stringContaining('https://evil.example') });
  });

  it("a plain OPTIONS (no preflight) says what that path allows, 404 on a path the API does not have; unsupported methods stay 405", async () => {
    const app = await h.build();
    const opt = await app.inject({ method: 'OPTIONS', url: '/v1/waits' });
    expect(opt.statusCode).toBe(204);
    expect(opt.headers.allow).toBe('GET, HEAD, OPTIONS');
    expect((await app.inject({ method: 'OPTIONS', url: '/v1/events' })).headers.allow).toBe('POST, OPTIONS');
    expect((await app.inject({ method: 'OPTIONS', url: '/v1/subscriptions/abc?x=1' })).headers.allow).toBe('GET, DELETE, HEAD, OPTIONS');
    const nowhere = await app.inject({ method: 'OPTIONS', url: '/v1/nowhere' });
    expect(nowhere.statusCode).toBe(404);
    expect(nowhere.json()).toMatchObject({ error: 'not_found', message: 'no route OPTIONS /v1/nowhere' });
    const put = await app.inject({ method: 'PUT', url: '/v1/waits' });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe(opt.headers.allow); // the 405 and a plain OPTIONS name the same methods
  });
});

describe('access log policy', () => {
  async function withCapturedLogs(level: string) {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const logger = pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink) as unknown as FastifyBaseLogger;
    const app = await h.build({ logger: logger as never });
    return { app, lines };
  }
  const completed = (lines: Record<string, unknown>[]) => lines.filter((l) => l.msg === 'request completed' || l.msg === 'request errored');

  it('at info: polls are not logged; errors and writes are, once each, with method, url and status', async () => {
    const { app, lines } = await withCapturedLogs('info');
    for (let i = 0; i < 5; i++) expect((await app.inject('/v1/crossings/korday/waits')).statusCode).toBe(200);
    expect((await app.inject('/v1/crossings/nowhere/waits')).statusCode).toBe(404);
    const post = await app.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...bearer('producer') }, payload: { eventId: `log-${Date.now()}`, type: 'lanes.changed', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date().toISOString(), lanesOpen: 3 } });
    expect(post.statusCode).toBe(202);
    const done = completed(lines);
    expect(done.map((l) => [(l.req as { method: string }).method, (l.req as { url: string }).url, (l.res as { statusCode: number }).statusCode])).toEqual([
      ['GET', '/v1/crossings/nowhere/waits', 404],
      ['POST', '/v1/events', 202],
    ]);
    expect(lines.some((l) => l.msg === 'incoming request')).toBe(false);
    // the Authorization header never reaches the log
    expect(JSON.stringify(lines)).not.toContain('producer-token');
    for (const l of done) expect(l.reqId).toBeDefined();
  });

  it('at debug: every request is logged once, with its reqId', async () => {
    const { app, lines } = await withCapturedLogs('debug');
    for (let i = 0; i < 3; i++) await app.inject('/v1/crossings/korday/waits');
    const done = completed(lines);
    expect(done).toHaveLength(3);
    expect(new Set(done.map((l) => l.reqId)).size).toBe(3);
    expect(done.every((l) => l.level === 20)).toBe(true);
  });
});
