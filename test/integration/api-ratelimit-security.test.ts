import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createHarness, type Harness } from '../helpers/api-fixtures.ts';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ RATE_LIMIT_PER_MINUTE: '5', WRITE_RATE_LIMIT_PER_MINUTE: '2' });
});
afterAll(async () => h.close());

describe('rate limits (Redis-backed, shared across instances)', () => {
  it('limits anonymous reads per IP across two app instances with 429, Retry-After and RateLimit-* headers', async () => {
    const a = await h.build();
    const b = await h.build();
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await (i % 2 ? b : a).inject('/v1/waits');
      codes.push(res.statusCode);
      if (i === 0) {
        expect(res.headers['ratelimit-limit']).toBe('5');
        expect(res.headers['ratelimit-remaining']).toBe('4');
      }
      if (res.statusCode === 429) {
        expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
        expect(res.json()).toMatchObject({ error: 'too_many_requests' });
      }
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
    // health checks are never limited
    expect((await a.inject('/healthz')).statusCode).toBe(200);
    // a token gets its own budget
    expect((await a.inject({ url: '/v1/waits', headers: bearer('reader') })).statusCode).toBe(200);
  });

  it('TRUST_PROXY: behind a named proxy, anonymous clients are told apart by X-Forwarded-For; otherwise the header is ignored', async () => {
    const proxied = await h.build({}, { TRUST_PROXY: '10.9.9.9' });
    const direct = await h.build();
    const via = (app: typeof proxied, remoteAddress: string, client: string) => app.inject({ url: '/v1/waits', remoteAddress, headers: { 'x-forwarded-for': client } });
    const codes: number[] = [];
    for (let i = 0; i < 6; i++) codes.push((await via(proxied, '10.9.9.9', '203.0.113.1')).statusCode);
    expect(codes).toEqual([200, 200, 200, 200, 200, 429]);
    expect((await via(proxied, '10.9.9.9', '203.0.113.2')).statusCode).toBe(200); // another client behind the proxy
    // a client that is not the named proxy cannot pick its address with the header
    const spoof: number[] = [];
    for (let i = 0; i < 6; i++) spoof.push((await via(proxied, '10.9.9.7', `198.51.100.${i}`)).statusCode);
    expect(spoof.at(-1)).toBe(429);
    // without TRUST_PROXY every request through the proxy counts against the proxy's address
    const unnamed: number[] = [];
    for (let i = 0; i < 6; i++) unnamed.push((await via(direct, '10.9.9.8', `198.51.100.${i}`)).statusCode);
    expect(unnamed).toEqual([200, 200, 200, 200, 200, 429]);
  });

  it('limits writes per token with the write budget', async () => {
    const a = await h.build();
    const post = () => a.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/json', ...bearer('official') }, payload: { eventId: `rl-${Math.random()}`, type: 'lanes.changed', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date().toISOString(), lanesOpen: 2 } });
    expect((await post()).statusCode).toBe(202);
    expect((await post()).statusCode).toBe(202);
    const third = await post();
    expect(third.statusCode).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
  });
});

describe('security headers, CORS and READ_AUTH', () => {
  it('sends a CSP without inline scripts on the dashboard, nosniff on JSON API responses, and a relaxed CSP scoped to /docs', async () => {
    const h2 = await createHarness();
    const app = await h2.build();
    const page = await app.inject('/');
    const csp = page.headers['content-security-policy'] as string;
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(page.headers['x-frame-options']).toBeDefined();
    const api = await app.inject('/v1/crossings');
    expect(api.headers['x-content-type-options']).toBe('nosniff');
    expect(api.headers['content-type']).toMatch(/^application\/json/);
    const docs = await app.inject('/docs/');
    expect(docs.statusCode).toBe(200);
    const docsCsp = docs.headers['content-security-policy'] as string;
    expect(docsCsp).not.toBe(csp);
    expect(docsCsp).toMatch(/validator\.swagger\.io/);
    expect(docsCsp).not.toMatch(/upgrade-insecure-requests/);
    expect(docs.body).toContain('swagger-initializer.js');
    const cors = await app.inject({ method: 'OPTIONS', url: '/v1/waits', headers: { origin: 'https://firm.example', 'access-control-request-method': 'GET' } });
    expect(cors.statusCode).toBe(204);
    expect(cors.headers['access-control-allow-origin']).toBe('*');
    await h2.close();
  });

  it('with READ_AUTH=on, reads need a token (401), any valid role may read', async () => {
    const h3 = await createHarness({ READ_AUTH: 'on' });
    const app = await h3.build();
    const anon = await app.inject('/v1/waits');
    expect(anon.statusCode).toBe(401);
    expect(anon.headers['www-authenticate']).toMatch(/Bearer/);
    expect((await app.inject({ url: '/v1/waits', headers: bearer('reader') })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/waits', headers: { authorization: 'Basic abc' } })).statusCode).toBe(401);
    expect((await app.inject('/healthz')).statusCode).toBe(200);
    await h3.close();
  });
});
