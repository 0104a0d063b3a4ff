import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { bearer, createHarness, makeEstimate, type Harness } from '../helpers/api-fixtures.ts';

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A local receiver that answers with the next status from `script` (then 200). */
async function receiver(script: number[] = []) {
  const got: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.statusCode = script.shift() ?? 200;
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/hook`;
  return { got, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** What a receiver does: recompute the HMAC over `${t}.${body}` with the secret and compare in constant time. */
function verify(secret: string, header: string, body: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const expected = createHmac('sha256', secret).update(`${m[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'));
}

const until = async (cond: () => boolean | Promise<boolean>, ms = 8000) => {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

let h: Harness;
let app: FastifyInstance;
let app2: FastifyInstance;

let guarded: FastifyInstance;

beforeAll(async () => {
  // the receivers listen on 127.0.0.1: these apps may deliver to private addresses; `guarded` has the default (off)
  // for subscription requests
  h = await createHarness({ WEBHOOK_PRIVATE_TARGETS: 'on' });
  const webhooks = { baseDelayMs: 50, maxAttempts: 4, timeoutMs: 2000, subscriptionCacheMs: 0 };
  app = await h.build({ webhooks });
  app2 = await h.build({ webhooks }); // a second instance on the same Redis and NATS
  guarded = await h.build({ deliverWebhooks: false }, { WEBHOOK_PRIVATE_TARGETS: 'off' }); // (delivering, it would claim the others' deliveries)
});
afterAll(async () => h.close());

const est = (p: Partial<Parameters<typeof makeEstimate>[0]>) => makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', ...p });

describe('webhooks', () => {
  it('creates (secret shown once), lists without secrets, validates, and deletes subscriptions per owner', async () => {
    const create = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: 'https://example.kz/h', crossingId: 'korday', onClosure: true } });
    expect(create.statusCode).toBe(201);
    const sub = create.json();
    expect(sub.id).toMatch(/^sub_/);
    expect(sub.secret).toMatch(/^whsec_/);
    expect(create.headers.location).toBe(`/v1/subscriptions/${sub.id}`);
    // the Location can be read (by its owner or an admin), without the secret
    const one = await app.inject({ url: create.headers.location as string, headers: bearer('reader') });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ id: sub.id, crossingId: 'korday', onClosure: true });
    expect(one.body).not.toContain(sub.secret);
    expect((await app.inject({ url: create.headers.location as string, headers: bearer('admin') })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/subscriptions/sub_doesnotexist1', headers: bearer('reader') })).statusCode).toBe(404);
    const list = await app.inject({ url: '/v1/subscriptions', headers: bearer('reader') });
    expect(list.json().subscriptions.map((s: { id: string }) => s.id)).toContain(sub.id);
    expect(list.body).not.toContain(sub.secret);
    // another client (producer) cannot create, and does not see it; admin sees it
    expect((await app.inject({ url: '/v1/subscriptions', headers: bearer('producer') })).statusCode).toBe(403);
    expect((await app.inject({ url: '/v1/subscriptions' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/v1/subscriptions', headers: bearer('admin') })).json().subscriptions.map((s: { id: string }) => s.id)).toContain(sub.id);
    // validation
    for (const payload of [
      { url: 'ftp://x/y', crossingId: 'korday', onClosure: true },
      { url: 'https://x/y', crossingId: 'atlantis', onClosure: true },
      { url: 'https://x/y', crossingId: 'korday', direction: 'KZ-CN', onClosure: true },
      { url: 'https://x/y', crossingId: 'korday' },
      { url: 'https://x/y', crossingId: 'korday', onClosure: true, extra: 1 },
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toBe('bad_request');
    }
    // a field of the body is named as one (it was reported as query.direction)
    const wrongDir = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: 'https://x/y', crossingId: 'korday', direction: 'KZ-CN', onClosure: true } });
    expect(wrongDir.json().details).toEqual([expect.objectContaining({ path: 'body.direction' })]);
    // a DELETE from a client that sends Content-Type: application/json on every request (and no body)
    const del = await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${sub.id}`, headers: { ...bearer('reader'), 'content-type': 'application/json' } });
    expect(del.statusCode).toBe(204);
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${sub.id}`, headers: bearer('reader') })).statusCode).toBe(404);
  });

  it('fires when the wait crosses the threshold upward: signed, retried after a 500, delivered once across two instances, logged', async () => {
    const rx = await receiver([500]);
    const create = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: rx.url, crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', waitAboveSeconds: 3600 } });
    const sub = create.json();
    await h.publishEstimate(est({ waitSeconds: 1800, revision: 1 })); // below: nothing
    await h.publishEstimate(est({ waitSeconds: 5400, revision: 2 })); // crosses upward: fires
    await h.publishEstimate(est({ waitSeconds: 6000, revision: 3 })); // still above: nothing
    await until(() => rx.got.length >= 2);
    await app.kezek.webhooks!.idle();
    await app2.kezek.webhooks!.idle();
    await new Promise((r) => setTimeout(r, 200));
    expect(rx.got).toHaveLength(2); // one failed attempt + one success, no duplicate from the second instance
    const [a1, a2] = rx.got as [Received, Received];
    expect(a1.headers['kezek-delivery-id']).toBe(a2.headers['kezek-delivery-id']);
    expect(verify(sub.secret, a2.headers['kezek-signature'] as string, a2.body)).toBe(true);
    expect(verify('whsec_wrong', a2.headers['kezek-signature'] as string, a2.body)).toBe(false);
    const payload = JSON.parse(a2.body);
    expect(payload).toMatchObject({ rule: 'wait_above', subscriptionId: sub.id, threshold: 3600, previous: { waitSeconds: 1800 }, estimate: { waitSeconds: 5400, revision: 2 } });

    const log = await app.inject({ url: `/v1/subscriptions/${sub.id}/deliveries`, headers: bearer('reader') });
    expect(log.statusCode).toBe(200);
    expect(log.json().deliveries.map((d: { attempt: number; outcome: string; statusCode: number }) => [d.attempt, d.outcome, d.statusCode])).toEqual([
      [2, 'delivered', 200],
      [1, 'failed', 500],
    ]);
    // someone else's delivery log is not visible
    expect((await app.inject({ url: `/v1/subscriptions/${sub.id}/deliveries`, headers: bearer('producer') })).statusCode).toBe(403);
    await rx.close();
  });

  it('notifies on closure and gives up after the bounded number of attempts', async () => {
    const rx = await receiver([503, 503, 503, 503, 503]);
    const sub = (await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('admin'), payload: { url: rx.url, crossingId: 'zhibek-zholy', onClosure: true } })).json();
    await h.publishEstimate(makeEstimate({ crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car', status: 'open', revision: 1 }));
    await h.publishEstimate(makeEstimate({ crossingId: 'zhibek-zholy', direction: 'KZ-UZ', vehicleClass: 'car', status: 'closed', waitSeconds: null, revision: 2 }));
    await until(() => rx.got.length >= 4);
    await app.kezek.webhooks!.idle();
    await app2.kezek.webhooks!.idle();
    expect(JSON.parse(rx.got[0]!.body)).toMatchObject({ rule: 'closure', estimate: { status: 'closed' } });
    const log = (await app.inject({ url: `/v1/subscriptions/${sub.id}/deliveries`, headers: bearer('admin') })).json().deliveries;
    expect(log).toHaveLength(4);
    expect(log[0]).toMatchObject({ attempt: 4, outcome: 'gave_up', statusCode: 503 });
    expect(rx.got).toHaveLength(4);
    await rx.close();
  });

  it('refuses subscriptions to loopback, private and link-local addresses (SSRF), naming the field and the address', async () => {
    for (const url of ['http://127.0.0.1:6379/', 'http://[::1]:4222/', 'http://[::ffff:127.0.0.1]/', 'http://169.254.169.254/latest/meta-data', 'http://10.0.0.7/hook', 'http://localhost:8080/hook']) {
      const res = await guarded.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url, crossingId: 'korday', onClosure: true } });
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ error: 'bad_request', details: [{ path: 'body.url', message: expect.stringMatching(/not a public address/) }] });
    }
    expect((await guarded.inject({ url: '/v1/subscriptions', headers: bearer('reader') })).json().subscriptions.filter((s: { url: string }) => /127\.0\.0\.1:6379|169\.254/.test(s.url))).toEqual([]);
  });

  it('refuses a URL carrying credentials with a 400 naming body.url and why, never echoing the password, and stores nothing', async () => {
    const password = 'Pa55-w0rd-do-not-echo';
    for (const url of [
      `https://dispatch:${password}@hooks.example.kz/kezek`,
      `https://:${password}@hooks.example.kz/kezek`,
      `https://${password}@hooks.example.kz/kezek`, // a token as the user name is a credential too
      `http://dispatch:${encodeURIComponent('p@ss/w:rd')}${password}@8.8.8.8/kezek`,
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url, crossingId: 'korday', onClosure: true } });
      expect(res.statusCode, url).toBe(400);
      const body = res.json();
      expect(body, url).toMatchObject({ error: 'bad_request', details: [{ path: 'body.url', message: expect.stringMatching(/must not contain credentials.*access logs.*Kezek-Signature/) }] });
      expect(body.message, url).toMatch(/body\.url must not contain credentials/);
      expect(res.body, url).not.toContain(password);
      expect(res.body, url).not.toContain('hooks.example.kz');
    }
    const stored = await app.inject({ url: '/v1/subscriptions', headers: bearer('admin') });
    expect(stored.body).not.toContain(password);
    // an @ outside the authority is not a credential
    const ok = await app.inject({ method: 'POST', url: '/v1/subscriptions', headers: bearer('reader'), payload: { url: 'https://hooks.example.kz/kezek?notify=ops@example.kz', crossingId: 'korday', onClosure: true } });
    expect(ok.statusCode).toBe(201);
    expect(ok.json().url).toBe('https://hooks.example.kz/kezek?notify=ops@example.kz');
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${ok.json().id}`, headers: bearer('reader') })).statusCode).toBe(204);
  });

  it('masks the credentials of a subscription stored before they were refused, on every read', async () => {
    const id = 'sub_legacycreds01';
    await app.kezek.store.addSubscription({
      id, owner: 'reader', url: 'https://dispatch:Legacy-Pa55@hooks.example.kz/kezek?x=1', crossingId: 'korday', direction: null, vehicleClass: null, waitAboveSeconds: null, onClosure: true, secret: 'whsec_test', createdAt: new Date().toISOString(),
    });
    const one = await app.inject({ url: `/v1/subscriptions/${id}`, headers: bearer('admin') });
    expect(one.statusCode).toBe(200);
    expect(one.json().url).toBe('https://***:***@hooks.example.kz/kezek?x=1');
    const list = await app.inject({ url: '/v1/subscriptions', headers: bearer('admin') });
    expect(list.body).not.toMatch(/Legacy-Pa55|dispatch:/);
    expect((await app.inject({ method: 'DELETE', url: `/v1/subscriptions/${id}`, headers: bearer('admin') })).statusCode).toBe(204);
  });

  it('refuses at delivery time too (a host that resolves to loopback when it is delivered): no request is sent, the attempt is logged and not retried', async () => {
    const h2 = await createHarness(); // WEBHOOK_PRIVATE_TARGETS off (the default), its own prefix: the only deliverer
    try {
      const app3 = await h2.build({ webhooks: { baseDelayMs: 50, maxAttempts: 4, timeoutMs: 2000, subscriptionCacheMs: 0 } });
      const rx = await receiver();
      const port = new URL(rx.url).port;
      // stored as if created when its name still resolved elsewhere (DNS rebinding): `localhost` resolves to loopback now
      const subs = [['sub_rebind_name', `http://localhost:${port}/hook`], ['sub_rebind_literal', rx.url]] as const;
      for (const [id, url] of subs) {
        await app3.kezek.store.addSubscription({
          id, owner: 'reader', url, crossingId: 'nur-zholy', direction: null, vehicleClass: null, waitAboveSeconds: null, onClosure: true, secret: 'whsec_test', createdAt: new Date().toISOString(),
        });
      }
      await h2.publishEstimate(makeEstimate({ crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'truck', status: 'open', revision: 1 }));
      await h2.publishEstimate(makeEstimate({ crossingId: 'nur-zholy', direction: 'KZ-CN', vehicleClass: 'truck', status: 'closed', waitSeconds: null, revision: 2 }));
      for (const [id] of subs) await until(async () => (await app3.kezek.store.deliveries(id)).length > 0);
      await app3.kezek.webhooks!.idle();
      for (const [id] of subs) {
        const log = await app3.kezek.store.deliveries(id);
        expect(log, id).toHaveLength(1); // refused once, not retried
        expect(log[0], id).toMatchObject({ attempt: 1, outcome: 'gave_up', statusCode: null, error: expect.stringMatching(/^refused: .*not a public address/) });
      }
      expect(rx.got).toHaveLength(0);
      await rx.close();
    } finally {
      await h2.close();
    }
  });
});
