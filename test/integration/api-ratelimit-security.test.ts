import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxHeaderSize } from 'node:http';
import { connect } from 'node:net';
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

/** Writes raw bytes on a new connection; resolves with the answer read until the server closes the connection. */
function rawHttp(port: number, request: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined); // a reset after the answer: what was read is the answer
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no HTTP answer: ${JSON.stringify(text)}`));
      const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) });
    });
  });
}

describe("client errors Node's HTTP parser raises before there is a request (real connections: inject skips the parser)", () => {
  let h5: Harness;
  let port: number;
  beforeAll(async () => {
    h5 = await createHarness();
    const app = await h5.build();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    port = typeof addr === 'object' && addr ? addr.port : 0;
  });
  afterAll(async () => h5.close());

  it('answers a request line or headers over the limit with 431 headers_too_large in the error shape, and closes the connection', async () => {
    for (const request of [
      `GET /v1/waits HTTP/1.1\r\nHost: localhost\r\nX-Filler: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /v1/waits?filler=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
    ]) {
      const res = await rawHttp(port, request);
      expect(res.status).toBe(431);
      expect(res.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', connection: 'close', vary: 'Origin', 'content-length': String(Buffer.byteLength(res.body)) });
      expect(JSON.parse(res.body)).toEqual({
        error: 'headers_too_large',
        message: `request line and headers exceed the server's limit of ${maxHeaderSize} bytes (shorten the URL or the headers)`,
      });
    }
  });

  it('answers bytes that are not HTTP with 400 bad_request in the error shape, and closes the connection', async () => {
    for (const [request, reason] of [
      ['GARBAGE\r\n\r\n', 'Invalid method encountered'],
      ['GET /v1/waits HTTP/1.1\r\nHost: localhost\r\nBad Header: v\r\n\r\n', 'Invalid header token'],
    ] as const) {
      const res = await rawHttp(port, request);
      expect(res.status).toBe(400);
      expect(res.headers).toMatchObject({ 'content-type': 'application/json; charset=utf-8', connection: 'close' });
      expect(JSON.parse(res.body)).toEqual({ error: 'bad_request', message: `the request is not valid HTTP/1.1 (${reason})` });
    }
    // the server is unharmed: a well-formed request on a new connection is answered
    const ok = await rawHttp(port, 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    expect(ok.status).toBe(200);
  });
});
