import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { createHarness, makeEstimate, type Harness } from '../helpers/api-fixtures.ts';

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Minimal SSE client over node:http: collects parsed events; `waitFor(n)` resolves when n events arrived. */
function connect(base: string, path: string, headers: Record<string, string> = {}) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let res: IncomingMessage | undefined;
  let ended = false;
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((w) => w());
  const ready = new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (r) => {
      res = r;
      let buf = '';
      r.setEncoding('utf8');
      r.on('data', (chunk: string) => {
        buf += chunk;
        let idx;
        while ((idx = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, idx);
          buf = buf.slice(idx + 2);
          const ev: SseEvent = { data: '' };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) {
              comments.push(line);
              continue;
            }
            const [field, value] = [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)];
            if (field === 'id') ev.id = value;
            else if (field === 'event') ev.event = value;
            else if (field === 'data') ev.data += value;
            else continue;
            isEvent = true;
          }
          if (isEvent) events.push(ev);
        }
        notify();
      });
      r.on('end', () => {
        ended = true;
        notify();
      });
      resolve(r);
    });
    req.on('error', reject);
    req.end();
  });
  return {
    events,
    comments,
    ready,
    get ended() {
      return ended;
    },
    async waitFor(pred: () => boolean, ms = 5000) {
      const end = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > end) throw new Error(`timed out; have ${JSON.stringify(events)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50);
        });
      }
    },
    close: () => res?.destroy(),
  };
}

let h: Harness;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  h = await createHarness();
  app = await h.build({ sse: { heartbeatMs: 200, replayIdleMs: 500 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => h.close());

const est = (p: Partial<Parameters<typeof makeEstimate>[0]> = {}) => makeEstimate({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', ...p });

describe('GET /v1/stream (SSE)', () => {
  it('delivers an update published after connect, with id = stream sequence, filtered, and heartbeats', async () => {
    const c = connect(base, '/v1/stream?crossingId=korday&vehicleClass=truck');
    const res = await c.ready;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/event-stream/);
    await new Promise((r) => setTimeout(r, 100));
    await h.publishEstimate(est({ vehicleClass: 'car', revision: 1 })); // filtered out
    const seq = await h.publishEstimate(est({ waitSeconds: 4321, revision: 2 }));
    await c.waitFor(() => c.events.length >= 1);
    expect(c.events[0]).toMatchObject({ id: String(seq), event: 'estimate' });
    expect(JSON.parse(c.events[0]!.data)).toMatchObject({ crossingId: 'korday', vehicleClass: 'truck', waitSeconds: 4321 });
    await c.waitFor(() => c.comments.some((l) => l.startsWith(': heartbeat')));
    c.close();
  });

  it('resumes with Last-Event-ID: replays the missed updates (in order, filtered) and then live ones, without duplicates', async () => {
    const first = await h.publishEstimate(est({ direction: 'KG-KZ', revision: 10 }));
    const missed1 = await h.publishEstimate(est({ direction: 'KG-KZ', revision: 11 }));
    await h.publishEstimate(est({ crossingId: 'zhibek-zholy', direction: 'KZ-UZ', revision: 1 })); // other crossing
    const missed2 = await h.publishEstimate(est({ direction: 'KG-KZ', revision: 12 }));
    const c = connect(base, '/v1/stream?crossingId=korday&direction=KG-KZ', { 'last-event-id': String(first) });
    await c.ready;
    await c.waitFor(() => c.events.length >= 2);
    const live = await h.publishEstimate(est({ direction: 'KG-KZ', revision: 13 }));
    await c.waitFor(() => c.events.length >= 3);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.events.map((e) => Number(e.id))).toEqual([missed1, missed2, live]);
    expect(c.events.map((e) => JSON.parse(e.data).revision)).toEqual([11, 12, 13]);
    c.close();
  });

  it('answers HEAD with the stream headers and ends (a HEAD used to hang as a live subscriber)', async () => {
    const res = await fetch(`${base}/v1/stream?crossingId=korday`, { method: 'HEAD', signal: AbortSignal.timeout(3000) });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await res.text()).toBe('');
  });

  it('rejects a bad Last-Event-ID and an unknown crossing with the error shape', async () => {
    const bad = await app.inject({ url: '/v1/stream', headers: { 'last-event-id': 'abc' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('bad_request');
    const nf = await app.inject('/v1/stream?crossingId=atlantis');
    expect(nf.statusCode).toBe(404);
  });

  it('drops a client whose buffer overflows with a final overflow event, without affecting others', async () => {
    const h2 = await createHarness();
    const app2 = await h2.build({ sse: { maxBufferBytes: 1 } });
    await app2.listen({ host: '127.0.0.1', port: 0 });
    const addr = app2.server.address();
    const b2 = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
    const slow = connect(b2, '/v1/stream');
    await slow.ready;
    await new Promise((r) => setTimeout(r, 100));
    // a 1-byte budget: the first event written while the socket still holds data overflows it
    for (let i = 0; i < 20; i++) await h2.publishEstimate(est({ revision: 100 + i, statusReason: 'x'.repeat(2000) }));
    await slow.waitFor(() => slow.ended);
    expect(slow.events.at(-1)?.event).toBe('overflow');
    // the server is still healthy for others
    expect((await app2.inject('/v1/waits')).statusCode).toBe(200);
    await h2.close();
  });

  it('ends open streams with a shutdown event when the app closes', async () => {
    const h3 = await createHarness();
    const app3 = await h3.build();
    await app3.listen({ host: '127.0.0.1', port: 0 });
    const addr = app3.server.address();
    const c = connect(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`, '/v1/stream');
    await c.ready;
    await new Promise((r) => setTimeout(r, 50));
    await app3.close();
    await c.waitFor(() => c.ended);
    expect(c.events.at(-1)?.event).toBe('shutdown');
    await h3.close();
  });
});
