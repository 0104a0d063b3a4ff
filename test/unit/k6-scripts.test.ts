/**
 * The k6 load scripts (test/load), checked without a k6 binary:
 * - they type-check against the k6 API (@types/k6) with the load tsconfig;
 * - every journey has a smoke entry that finishes in under a minute;
 * - every entry exports options with the verdict thresholds, and a setup() that refuses to start when /readyz
 *   is not 200;
 * - the journeys send what the API contract expects (If-None-Match, valid unique events, held streams).
 *
 * To run the scripts' own code, each entry is bundled with esbuild (k6 modules left external) and evaluated
 * against a small recording stand-in for the k6 modules that answers HTTP calls from canned responses.
 * It executes the script logic; it says nothing about k6 itself or real performance.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { build } from 'esbuild';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import { PROFILES, scenarioMaxSeconds, type KezekScenario } from '../load/lib/profiles.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD = join(ROOT, 'test/load');
const catalogue = loadCatalogue();

const journeys = readdirSync(LOAD)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('-smoke.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

// ---------------------------------------------------------------------------------------------------------
// A recording stand-in for the k6 modules the scripts import.

interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  error_code?: number;
  error?: string;
  timings?: Partial<Record<'waiting' | 'receiving' | 'duration', number>>;
}
interface SentRequest {
  method: string;
  url: string;
  body: string | undefined;
  params: { headers?: Record<string, string>; tags?: Record<string, string>; timeout?: string; responseType?: string };
}
type Responder = (req: SentRequest) => FakeResponse;

class Aborted extends Error {}

interface Harness {
  exports: Record<string, unknown>;
  requests: SentRequest[];
  checks: { name: string; ok: boolean }[];
  metrics: Map<string, { kind: string; samples: unknown[] }>;
  sleptSeconds: number;
  exec: { vu: { idInTest: number; iterationInScenario: number }; scenario: { iterationInTest: number } };
  respond(r: Responder): void;
}

const bundles = new Map<string, string>();
async function bundle(entry: string): Promise<string> {
  const cached = bundles.get(entry);
  if (cached) return cached;
  const out = await build({
    entryPoints: [join(LOAD, entry)],
    bundle: true,
    write: false,
    format: 'cjs',
    platform: 'neutral',
    external: ['k6', 'k6/*'],
    logLevel: 'silent',
  });
  const code = out.outputFiles[0]!.text;
  bundles.set(entry, code);
  return code;
}

async function load(entry: string, env: Record<string, string> = {}): Promise<Harness> {
  const code = await bundle(entry);
  let responder: Responder = () => ({ status: 599, body: '' });
  let clock = Date.parse('2026-11-22T06:00:00Z');
  const h: Harness = {
    exports: {},
    requests: [],
    checks: [],
    metrics: new Map(),
    sleptSeconds: 0,
    exec: { vu: { idInTest: 1, iterationInScenario: 0 }, scenario: { iterationInTest: 0 } },
    respond: (r) => {
      responder = r;
    },
  };
  // Time moves only when the script sleeps or makes a request, so loops bounded by wall-clock time terminate.
  class VirtualDate extends Date {
    static override now(): number {
      return clock;
    }
  }
  const request = (method: string, url: string, body: string | undefined, params: SentRequest['params'] = {}) => {
    const req: SentRequest = { method, url, body, params };
    h.requests.push(req);
    clock += 5;
    const r = responder(req);
    return {
      status: r.status,
      headers: r.headers ?? {},
      body: r.body ?? '',
      error: r.error ?? '',
      error_code: r.error_code ?? 0,
      timings: { waiting: 1, receiving: 1, duration: 2, ...r.timings },
      json: () => JSON.parse(r.body ?? ''),
    };
  };
  const metric = (kind: string) =>
    class {
      constructor(readonly name: string) {
        h.metrics.set(name, { kind, samples: [] });
      }
      add(v: unknown) {
        h.metrics.get(this.name)!.samples.push(v);
      }
    };
  const modules: Record<string, unknown> = {
    k6: {
      check: (val: unknown, sets: Record<string, (v: unknown) => boolean>) => {
        let all = true;
        for (const [name, fn] of Object.entries(sets)) {
          const ok = Boolean(fn(val));
          h.checks.push({ name, ok });
          all &&= ok;
        }
        return all;
      },
      sleep: (s: number) => {
        h.sleptSeconds += s;
        clock += s * 1000;
      },
      fail: (msg: string) => {
        throw new Error(msg);
      },
    },
    // esbuild's CommonJS interop makes the module object itself the default import.
    'k6/http': {
      get: (url: string, params?: SentRequest['params']) => request('GET', url, undefined, params),
      post: (url: string, body: string, params?: SentRequest['params']) => request('POST', url, body, params),
    },
    'k6/metrics': { Rate: metric('rate'), Trend: metric('trend'), Counter: metric('counter'), Gauge: metric('gauge') },
    'k6/execution': {
      vu: h.exec.vu,
      scenario: h.exec.scenario,
      test: {
        abort: (msg: string) => {
          throw new Aborted(msg);
        },
      },
    },
  };
  const mod = { exports: {} as Record<string, unknown> };
  const req = (name: string) => {
    if (!(name in modules)) throw new Error(`unexpected import ${name}`);
    return modules[name];
  };
  new Function('require', 'module', 'exports', '__ENV', 'Date', code)(req, mod, mod.exports, { ...env }, VirtualDate);
  h.exports = mod.exports;
  return h;
}

// ---------------------------------------------------------------------------------------------------------
// Canned API answers shaped like the contract (catalogue from the real seeds).

const crossingsBody = JSON.stringify({
  crossings: catalogue.crossings.map((c) => ({ id: c.id, directions: c.directions, vehicleClasses: c.vehicleClasses, names: c.names })),
});

function queueRow(direction: string, vehicleClass: string, queueLength = 12) {
  return {
    direction,
    vehicleClass,
    status: 'open',
    lanesOpen: 2,
    queueLength,
    waitSeconds: 600,
    waitP10Seconds: 300,
    waitP90Seconds: 1200,
    lastEventAt: '2026-11-22T05:59:00.000Z',
    updatedAt: '2026-11-22T05:59:01.000Z',
    method: 'queue-model',
    stale: false,
  };
}

function waitsBody(crossingId: string, lengthOf: (direction: string, vehicleClass: string) => number = () => 12) {
  const c = catalogue.get(crossingId)!;
  return {
    crossingId,
    asOf: '2026-11-22T06:00:00.000Z',
    queues: c.directions.flatMap((d) => c.vehicleClasses.map((vc) => queueRow(d, vc, lengthOf(d, vc)))),
  };
}

const WAITS_RE = /\/v1\/crossings\/([^/]+)\/waits$/;

/** A healthy target: ready, the real catalogue, waits with ETags, events accepted. */
function healthy(overrides: (req: SentRequest) => FakeResponse | undefined = () => undefined): Responder {
  return (req) => {
    const o = overrides(req);
    if (o) return o;
    const path = new URL(req.url).pathname;
    if (path === '/readyz') return { status: 200, body: JSON.stringify({ status: 'ready', checks: {} }) };
    if (path === '/v1/crossings') return { status: 200, body: crossingsBody };
    const m = WAITS_RE.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (req.params.headers?.['If-None-Match'] === `"w-${id}"`) return { status: 304, headers: { Etag: `"w-${id}"` } };
      return { status: 200, headers: { Etag: `"w-${id}"` }, body: JSON.stringify(waitsBody(id)) };
    }
    if (path === '/v1/waits') {
      if (req.params.headers?.['If-None-Match'] === '"bulk"') return { status: 304, headers: { Etag: '"bulk"' } };
      return { status: 200, headers: { Etag: '"bulk"' }, body: JSON.stringify({ crossings: catalogue.crossings.map((c) => waitsBody(c.id)) }) };
    }
    if (path === '/v1/events' && req.method === 'POST') {
      const n = (JSON.parse(req.body!) as unknown[]).length;
      return { status: 202, body: JSON.stringify({ accepted: n, duplicates: 0 }) };
    }
    return { status: 404, body: JSON.stringify({ error: 'not_found', message: path }) };
  };
}

const fn = (h: Harness, name: string) => {
  const f = h.exports[name];
  if (typeof f !== 'function') throw new Error(`${name} is not an exported function`);
  return f as (...args: unknown[]) => unknown;
};
const failedChecks = (h: Harness) => h.checks.filter((c) => !c.ok).map((c) => c.name);
const envFor = (journey: string): Record<string, string> => (journey === 'ingest' ? { PRODUCER_TOKEN: 'producer-token-123' } : {});

// ---------------------------------------------------------------------------------------------------------

describe('k6 load scripts', () => {
  it('type-check against the k6 API with test/load/tsconfig.json', () => {
    const res = spawnSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', 'test/load/tsconfig.json', '--noEmit'], { cwd: ROOT, encoding: 'utf8' });
    expect(res.stdout + res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it('cover the four journeys of the brief, each with a smoke entry', () => {
    expect(journeys).toEqual(['bulk-view', 'ingest', 'poll-waits', 'sse-dashboards']);
    for (const j of journeys) expect(existsSync(join(LOAD, `${j}-smoke.ts`)), `${j}-smoke.ts`).toBe(true);
  });

  describe.each(journeys)('%s', (journey) => {
    it.each([`${journey}.ts`, `${journey}-smoke.ts`])('%s exports options whose thresholds judge p95/p99 latency, errors and checks', async (entry) => {
      const h = await load(entry, envFor(journey));
      const options = h.exports.options as { scenarios: Record<string, KezekScenario>; thresholds: Record<string, string[]> };
      const keys = Object.keys(options.thresholds);
      const latency = keys.filter((k) => k.startsWith('http_req_duration')).flatMap((k) => options.thresholds[k]!);
      expect(latency.some((t) => t.startsWith('p(95)<'))).toBe(true);
      expect(latency.some((t) => t.startsWith('p(99)<'))).toBe(true);
      expect(keys.some((k) => k.startsWith('http_req_failed'))).toBe(true);
      expect(options.thresholds.checks).toEqual(['rate>0.99']);
      // A threshold on a metric nobody records would pass vacuously.
      const builtin = new Set(['http_req_duration', 'http_req_failed', 'checks']);
      for (const k of keys) {
        const name = k.replace(/\{.*$/, '');
        expect(builtin.has(name) || h.metrics.has(name), `threshold on unknown metric ${name}`).toBe(true);
      }
      for (const [name, s] of Object.entries(options.scenarios)) {
        expect(typeof h.exports[s.exec], `scenario ${name} exec ${s.exec}`).toBe('function');
      }
      expect(typeof h.exports.setup).toBe('function');
      expect(typeof h.exports.default).toBe('function');
      expect(typeof h.exports.handleSummary).toBe('function');
    });

    it('the smoke entry finishes in under a minute even when PROFILE asks for another shape', async () => {
      const h = await load(`${journey}-smoke.ts`, { ...envFor(journey), PROFILE: 'stress' });
      const scenarios = Object.values((h.exports.options as { scenarios: Record<string, KezekScenario> }).scenarios);
      expect(scenarios.length).toBeGreaterThan(0);
      for (const s of scenarios) expect(scenarioMaxSeconds(s)).toBeLessThan(60);
    });

    it('the main entry follows PROFILE (load runs for minutes, smoke by default)', async () => {
      const smoke = await load(`${journey}.ts`, envFor(journey));
      const loadRun = await load(`${journey}.ts`, { ...envFor(journey), PROFILE: 'load' });
      const longest = (h: Harness) => Math.max(...Object.values((h.exports.options as { scenarios: Record<string, KezekScenario> }).scenarios).map(scenarioMaxSeconds));
      expect(longest(smoke)).toBeLessThan(60);
      expect(longest(loadRun)).toBeGreaterThanOrEqual(10 * 60);
    });

    it('setup() aborts the test at once when /readyz is not 200', async () => {
      const h = await load(`${journey}-smoke.ts`, envFor(journey));
      h.respond(healthy((req) => (req.url.endsWith('/readyz') ? { status: 503, body: JSON.stringify({ status: 'degraded', checks: { nats: 'disconnected' } }) } : undefined)));
      expect(() => fn(h, 'setup')()).toThrow(Aborted);
      expect(() => fn(h, 'setup')()).toThrow(/readyz -> HTTP 503 .*disconnected/);
      expect(h.requests.every((r) => r.url.endsWith('/readyz'))).toBe(true);
    });

    it('setup() aborts when the target cannot be reached at all', async () => {
      const h = await load(`${journey}-smoke.ts`, envFor(journey));
      h.respond(() => ({ status: 0, error: 'dial tcp 127.0.0.1:3000: connect: connection refused', error_code: 1212 }));
      expect(() => fn(h, 'setup')()).toThrow(/not ready.*connection refused/);
    });

    it('setup() on a ready target discovers the crossings from the catalogue', async () => {
      const h = await load(`${journey}-smoke.ts`, envFor(journey));
      h.respond(healthy());
      const data = fn(h, 'setup')() as { crossingIds: string[]; queues: unknown[] };
      expect(data.crossingIds).toEqual(catalogue.crossings.map((c) => c.id));
      expect(data.queues).toHaveLength(catalogue.queues().length);
    });

    it('handleSummary prints a text verdict and writes the JSON verdict to SUMMARY_PATH without tokens', async () => {
      const env = { ...envFor(journey), SUMMARY_PATH: 'out/summary.json', BASE_URL: 'https://user:secret-pass@kezek.example', READER_TOKEN: 'reader-token-xyz' };
      const h = await load(`${journey}-smoke.ts`, env);
      const out = fn(h, 'handleSummary')({
        state: { testRunDurationMs: 31_000 },
        metrics: {
          'http_req_duration{kind:api}': { type: 'trend', contains: 'time', values: { 'p(95)': 42, 'p(99)': 80 }, thresholds: { 'p(95)<100': { ok: true }, 'p(99)<250': { ok: true } } },
          checks: { type: 'rate', contains: 'default', values: { rate: 0.9, passes: 9, fails: 1 }, thresholds: { 'rate>0.99': { ok: false } } },
        },
      }) as Record<string, string>;
      expect(Object.keys(out).sort()).toEqual(['out/summary.json', 'stdout']);
      expect(out.stdout).toContain('FAIL checks: rate>0.99');
      expect(out.stdout).toContain('verdict: FAILED');
      const json = JSON.parse(out['out/summary.json']!) as { journey: string; profile: string; passed: boolean; target: string };
      expect(json).toMatchObject({ journey, profile: 'smoke', passed: false, target: 'https://kezek.example' });
      for (const text of Object.values(out)) expect(text).not.toMatch(/secret-pass|reader-token-xyz|producer-token-123/);
    });
  });

  describe('poll-waits', () => {
    it('revalidates with the ETag it was given and accepts the 304', async () => {
      const h = await load('poll-waits-smoke.ts', { CROSSING_ID: 'korday', READER_TOKEN: 'reader-token-xyz' });
      h.respond(healthy());
      const target = fn(h, 'setup')();
      fn(h, 'pollWaits')(target);
      fn(h, 'pollWaits')(target);
      const polls = h.requests.filter((r) => WAITS_RE.test(new URL(r.url).pathname));
      expect(polls).toHaveLength(2);
      expect(polls[0]!.url).toMatch(/\/v1\/crossings\/korday\/waits$/);
      expect(polls[0]!.params.headers!['If-None-Match']).toBeUndefined();
      expect(polls[1]!.params.headers!['If-None-Match']).toBe('"w-korday"');
      expect(polls[1]!.params.headers!.Authorization).toBe('Bearer reader-token-xyz');
      expect(h.metrics.get('waits_not_modified')!.samples).toEqual([false, true]);
      expect(failedChecks(h)).toEqual([]);
    });

    it('fails a check when a 200 lacks the contract fields', async () => {
      const h = await load('poll-waits-smoke.ts', { CROSSING_ID: 'korday' });
      h.respond(healthy((req) => (WAITS_RE.test(new URL(req.url).pathname) ? { status: 200, headers: { ETag: '"x"' }, body: JSON.stringify({ crossingId: 'korday', asOf: 'x', queues: [{ direction: 'KZ-KG' }] }) } : undefined)));
      fn(h, 'pollWaits')(fn(h, 'setup')());
      expect(failedChecks(h)).toEqual(['waits: 200 carries an ETag and every queue']);
    });

    it('counts a 429 as rate limited and as a failed check', async () => {
      const h = await load('poll-waits-smoke.ts');
      h.respond(healthy((req) => (WAITS_RE.test(new URL(req.url).pathname) ? { status: 429, headers: { 'Retry-After': '10' }, body: '{"error":"rate_limited","message":"slow down"}' } : undefined)));
      fn(h, 'pollWaits')(fn(h, 'setup')());
      expect(h.metrics.get('rate_limited')!.samples).toEqual([true]);
      expect(failedChecks(h)).toContain('waits: 200 or 304');
    });
  });

  describe('bulk-view', () => {
    it('pulls /v1/waits, then revalidates; a crossing missing from the bulk body fails the check', async () => {
      const h = await load('bulk-view-smoke.ts');
      h.respond(healthy());
      const target = fn(h, 'setup')();
      fn(h, 'bulkView')(target);
      fn(h, 'bulkView')(target);
      const pulls = h.requests.filter((r) => r.url.endsWith('/v1/waits'));
      expect(pulls.map((r) => r.params.headers!['If-None-Match'])).toEqual([undefined, '"bulk"']);
      expect(failedChecks(h)).toEqual([]);

      const partial = await load('bulk-view-smoke.ts');
      partial.respond(healthy((req) => (req.url.endsWith('/v1/waits') ? { status: 200, headers: { ETag: '"p"' }, body: JSON.stringify({ crossings: [waitsBody('korday')] }) } : undefined)));
      fn(partial, 'bulkView')(fn(partial, 'setup')());
      expect(failedChecks(partial)).toEqual(['bulk: 200 carries an ETag and every crossing it discovered']);
    });
  });

  describe('ingest', () => {
    it('setup() refuses to start without a producer token, before sending anything', async () => {
      const h = await load('ingest-smoke.ts');
      h.respond(healthy());
      expect(() => fn(h, 'setup')()).toThrow(/PRODUCER_TOKEN is required/);
      expect(h.requests).toEqual([]);
    });

    it('setup() aborts when the trial batch is rejected (wrong token)', async () => {
      const h = await load('ingest-smoke.ts', { PRODUCER_TOKEN: 'wrong-token-123' });
      h.respond(healthy((req) => (req.method === 'POST' ? { status: 401, body: JSON.stringify({ error: 'unauthorized', message: 'invalid token' }) } : undefined)));
      expect(() => fn(h, 'setup')()).toThrow(/trial batch was not accepted.*401.*invalid token/);
    });

    it('posts batches of 100 contract-valid events with ids unique across VUs and iterations, never on the probe queue', async () => {
      const h = await load('ingest-smoke.ts', { PRODUCER_TOKEN: 'producer-token-123' });
      h.respond(healthy());
      const data = fn(h, 'setup')() as { probeQueue: { crossingId: string; direction: string; vehicleClass: string } };
      for (const [vu, iteration] of [[1, 0], [1, 1], [2, 0]] as const) {
        h.exec.vu.idInTest = vu;
        h.exec.vu.iterationInScenario = iteration;
        fn(h, 'produce')(data);
      }
      const posts = h.requests.filter((r) => r.method === 'POST' && r.params.tags?.kind === 'api');
      expect(posts).toHaveLength(3);
      const events = posts.flatMap((p) => JSON.parse(p.body!) as Record<string, unknown>[]);
      expect(posts.map((p) => (JSON.parse(p.body!) as unknown[]).length)).toEqual([100, 100, 100]);
      expect(new Set(events.map((e) => e.eventId)).size).toBe(300);
      const now = Date.parse('2026-11-22T06:00:01Z');
      for (const e of events) expect(validateEvent(e, { catalogue, now })).toEqual({ ok: true, event: e });
      const probeKey = `${data.probeQueue.crossingId}|${data.probeQueue.direction}|${data.probeQueue.vehicleClass}`;
      expect(events.some((e) => `${e.crossingId}|${e.direction}|${e.vehicleClass}` === probeKey)).toBe(false);
      expect(posts[0]!.params.headers).toMatchObject({ Authorization: 'Bearer producer-token-123', 'Content-Type': 'application/json' });
      expect(failedChecks(h)).toEqual([]);
    });

    it('a duplicate reported by the API fails the acceptance check', async () => {
      const h = await load('ingest-smoke.ts', { PRODUCER_TOKEN: 'producer-token-123' });
      h.respond(healthy());
      const data = fn(h, 'setup')();
      h.respond(healthy((req) => (req.method === 'POST' ? { status: 202, body: JSON.stringify({ accepted: 100, duplicates: 3 }) } : undefined)));
      fn(h, 'produce')(data);
      expect(failedChecks(h)).toEqual(['ingest: every event accepted, none a duplicate']);
    });

    it('the probe measures the delay until /waits shows its observation', async () => {
      const h = await load('ingest-smoke.ts', { PRODUCER_TOKEN: 'producer-token-123', PROBE_QUEUE: 'korday/KZ-KG/truck' });
      let observed: { queueLength: number } | undefined;
      let pollsAfterPost = 0;
      h.respond(
        healthy((req) => {
          if (req.method === 'POST' && req.params.tags?.kind === 'probe') {
            const [ev] = JSON.parse(req.body!) as { queueLength: number; type: string }[];
            expect(ev!.type).toBe('queue.observed');
            observed = ev;
            return { status: 202, body: '{"accepted":1,"duplicates":0}' };
          }
          if (observed && req.url.endsWith('/korday/waits')) {
            // The estimate catches up on the third poll (and drifted by a few vehicles meanwhile).
            pollsAfterPost++;
            const len = pollsAfterPost >= 3 ? observed.queueLength + 4 : 12;
            return { status: 200, headers: { ETag: `"p${pollsAfterPost}"` }, body: JSON.stringify(waitsBody('korday', (d, vc) => (d === 'KZ-KG' && vc === 'truck' ? len : 12))) };
          }
          return undefined;
        }),
      );
      const data = fn(h, 'setup')() as { probeQueue: unknown };
      expect(data.probeQueue).toEqual({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' });
      fn(h, 'probe')(data);
      expect(pollsAfterPost).toBe(3);
      expect(h.metrics.get('probe_seen')!.samples).toEqual([true]);
      const [delay] = h.metrics.get('event_to_estimate_ms')!.samples as number[];
      // Three polls 200 ms apart after the POST: the delay reflects the polling, not zero and not the timeout.
      expect(delay).toBeGreaterThanOrEqual(400);
      expect(delay).toBeLessThan(1000);
    });

    it('the probe gives up after PROBE_TIMEOUT_SECONDS and records a miss, not a delay', async () => {
      const h = await load('ingest-smoke.ts', { PRODUCER_TOKEN: 'producer-token-123', PROBE_TIMEOUT_SECONDS: '3' });
      h.respond(healthy());
      fn(h, 'probe')(fn(h, 'setup')());
      expect(h.metrics.get('probe_seen')!.samples).toEqual([false]);
      expect(h.metrics.get('event_to_estimate_ms')!.samples).toEqual([]);
      const polls = h.requests.filter((r) => r.method === 'GET' && r.params.tags?.kind === 'probe');
      expect(polls.length).toBeGreaterThan(5);
      expect(polls.length).toBeLessThan(20);
    });
  });

  describe('sse-dashboards', () => {
    const sseText = [
      ': connected',
      '',
      'id: 41',
      'event: estimate',
      `data: ${JSON.stringify({ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', queueLength: 3 })}`,
      '',
      ': heartbeat',
      '',
      'id: 42',
      'event: estimate',
      'data: {"crossingId":"ko',
    ].join('\n');

    it('holds the stream for the profile hold time and counts what arrived before hanging up', async () => {
      const h = await load('sse-dashboards-smoke.ts');
      h.respond(healthy((req) => (req.url.includes('/v1/stream') ? { status: 0, error_code: 1050, error: 'request timeout', body: sseText, timings: { waiting: 12, receiving: 19_988 } } : undefined)));
      const data = fn(h, 'setup')() as { holdSeconds: number };
      expect(data.holdSeconds).toBe(PROFILES.smoke.streamHoldSeconds);
      fn(h, 'dashboard')(data);
      const stream = h.requests.find((r) => r.url.includes('/v1/stream'))!;
      expect(stream.url).toMatch(/\/v1\/stream\?crossingId=[a-z-]+$/);
      expect(stream.params).toMatchObject({ timeout: `${PROFILES.smoke.streamHoldSeconds}s`, responseType: 'text', tags: { kind: 'stream' } });
      expect(stream.params.headers!.Accept).toBe('text/event-stream');
      expect(h.metrics.get('sse_streams_held')!.samples).toEqual([true]);
      expect(h.metrics.get('sse_streams_alive')!.samples).toEqual([true]);
      expect(h.metrics.get('sse_estimates')!.samples).toEqual([1]);
      expect(h.metrics.get('sse_heartbeats')!.samples).toEqual([2]);
      expect(h.metrics.get('sse_first_byte_ms')!.samples).toEqual([12]);
      expect(failedChecks(h)).toEqual([]);
      expect(h.sleptSeconds).toBe(0);
    });

    it('a refused stream is not held, fails the check and backs off like EventSource', async () => {
      const h = await load('sse-dashboards-smoke.ts');
      h.respond(healthy((req) => (req.url.includes('/v1/stream') ? { status: 503, body: '{"error":"unavailable","message":"draining"}' } : undefined)));
      fn(h, 'dashboard')(fn(h, 'setup')());
      expect(h.metrics.get('sse_streams_held')!.samples).toEqual([false]);
      expect(failedChecks(h)).toEqual(['stream: held open until the client hung up']);
      expect(h.sleptSeconds).toBe(3);
    });

    it('a server that never answers within the hold time is not counted as a held stream', async () => {
      const h = await load('sse-dashboards-smoke.ts');
      h.respond(healthy((req) => (req.url.includes('/v1/stream') ? { status: 0, error_code: 1050, body: '', timings: { waiting: 20_000, receiving: 0 } } : undefined)));
      fn(h, 'dashboard')(fn(h, 'setup')());
      expect(h.metrics.get('sse_streams_held')!.samples).toEqual([false]);
      expect(h.metrics.get('sse_first_byte_ms')!.samples).toEqual([]);
    });
  });
});
