/**
 * TEST FIXTURE, not the product API: a small Fastify server that speaks the dashboard's slice of the public API
 * contract (GET /v1/crossings, GET /v1/crossings/:id/history, GET /v1/stream SSE, POST /v1/events) from an
 * in-memory state, behind a strict CSP (no inline scripts or styles). It lets the dashboard be developed and
 * browser-tested while the real API (services/api/app.ts) and estimator are in progress; the real-system test
 * (dashboard.test.ts) runs the same journey against them.
 *
 * Events posted here are validated with the real contract (`validateEvent`) and applied directly (lanes and status),
 * then pushed to SSE clients, standing in for estimator -> JetStream -> API.
 *
 * Run it by hand: `npx tsx test/e2e/fixture-api.ts` (PORT, default 3300; token `official-dev-token`).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { computeSecurityHeaders } from '../../services/api/security-headers.ts';
import type { ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import { queueKey, type QueueEstimate } from '../../shared/estimates.ts';
import type { HistoryPoint } from '../../shared/queue-store/api.ts';
import { dashboardRoutes } from '../../services/api/routes/dashboard.ts';

/** The CSP the product must work under: nothing inline, everything from 'self'. */
export const STRICT_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  fontSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export interface FixtureApi {
  app: FastifyInstance;
  url: string;
  catalogue: Catalogue;
  estimates: Map<string, QueueEstimate>;
  /** Replace fields of one queue's estimate and push it to SSE clients (as the estimator would). */
  publish(key: string, patch: Partial<QueueEstimate>): QueueEstimate;
  /** Drop every open SSE connection (to exercise the page's reconnect). */
  dropStreams(): void;
  /**
   * Stall the streams (true) as a frozen proxy would: open connections and new ones stay open but receive no
   * byte (no estimates, no heartbeats, new ones not even headers) until unfrozen (false). Estimates published
   * meanwhile are kept, so a client resuming with Last-Event-ID gets them.
   */
  freezeStreams(frozen: boolean): void;
  /** While set, GET /v1/crossings answers this HTTP status (e.g. 503) instead of the crossings. */
  failCrossings(status: number | null): void;
  close(): Promise<void>;
}

function initialEstimates(catalogue: Catalogue, now: number): Map<string, QueueEstimate> {
  const out = new Map<string, QueueEstimate>();
  let i = 0;
  const second = catalogue.crossings[1] ?? catalogue.crossings[0]!;
  const silentKey = queueKey({ crossingId: second.id, direction: second.directions[0]!, vehicleClass: second.vehicleClasses[second.vehicleClasses.length - 1]! });
  for (const q of catalogue.queues()) {
    const p = catalogue.profile(q.crossingId, q.vehicleClass)!;
    const lanes = p.lanesTypical;
    const queueLength = [12, 40, 3, 0, 85, 20, 7, 150][i % 8]!;
    // One queue of the second crossing is silent (stale) so stale marking is visible in tests and screenshots.
    const silent = queueKey(q) === silentKey;
    const wait = lanes ? (queueLength * p.serviceTimeMeanSeconds) / lanes : null;
    out.set(queueKey(q), {
      ...q,
      status: 'open',
      statusUntil: null,
      statusReason: null,
      lanesOpen: lanes,
      queueLength,
      waitSeconds: wait,
      waitP10Seconds: wait === null ? null : wait * 0.7,
      waitP90Seconds: wait === null ? null : wait * 1.6,
      lastEventAt: new Date(now - (silent ? 3 * 3600_000 : 90_000)).toISOString(),
      asOf: new Date(now - (silent ? 3 * 3600_000 : 90_000)).toISOString(),
      updatedAt: new Date(now).toISOString(),
      method: 'queue-model',
      stale: silent,
      revision: 1,
    });
    i += 1;
  }
  return out;
}

function recomputeWait(est: QueueEstimate, serviceTime: number): void {
  if (est.status === 'closed') {
    est.waitSeconds = null;
    est.waitP10Seconds = null;
    est.waitP90Seconds = null;
    return;
  }
  const w = est.lanesOpen > 0 ? ((est.queueLength + 1) * serviceTime) / est.lanesOpen : null;
  est.waitSeconds = w;
  est.waitP10Seconds = w === null ? null : w * 0.7;
  est.waitP90Seconds = w === null ? null : w * 1.6;
}

function syntheticHistory(est: QueueEstimate, fromMs: number, toMs: number, stepMs: number): HistoryPoint[] {
  const points: HistoryPoint[] = [];
  const start = Math.ceil(fromMs / stepMs) * stepMs;
  for (let t = start; t < toMs; t += stepMs) {
    const phase = ((t / 3600_000) % 24) / 24;
    const q = Math.max(0, Math.round(est.queueLength * (0.6 + 0.5 * Math.sin(phase * 2 * Math.PI))));
    const w = est.waitSeconds === null ? null : est.waitSeconds * (q + 1) / (est.queueLength + 1);
    points.push({
      t,
      queueLength: q,
      lanesOpen: est.lanesOpen - (phase > 0.9 ? 1 : 0),
      status: 'open',
      waitSeconds: w,
      waitP10Seconds: w === null ? null : w * 0.7,
      waitP90Seconds: w === null ? null : w * 1.6,
      realisedWaitSeconds: w === null ? null : w * (0.85 + 0.3 * Math.cos(phase * 9)),
      arrivals: Math.round(3 + 2 * Math.sin(phase * 6)),
      served: Math.round(3 + 2 * Math.sin(phase * 6 + 0.5)),
    });
  }
  return points;
}

const STEPS: Record<string, number> = { '5m': 300_000, '15m': 900_000, '1h': 3600_000 };

export async function startFixtureApi(opts: { officialToken: string; port?: number; catalogue?: Catalogue; heartbeatMs?: number }): Promise<FixtureApi> {
  const catalogue = opts.catalogue ?? loadCatalogue();
  const estimates = initialEstimates(catalogue, Date.now());
  const seen = new Set<string>();
  const log: { seq: number; est: QueueEstimate }[] = [];
  let seq = 0;
  const clients = new Set<{ res: ServerResponse; crossingId?: string }>();
  /** Stream requests that arrived while frozen: held without an answer. */
  const held = new Set<ServerResponse>();
  let frozen = false;
  let crossingsStatus: number | null = null;
  // the real API's heartbeat (services/api/sse.ts): a comment line every 15 s
  const heartbeat = setInterval(() => {
    if (!frozen) for (const c of clients) c.res.write(`: heartbeat ${new Date().toISOString()}\n\n`);
  }, opts.heartbeatMs ?? 15_000);
  heartbeat.unref();

  const app = Fastify({ logger: false });
  // the production header set (services/api/security-headers.ts), with the stricter CSP of this fixture
  const headers = computeSecurityHeaders({ contentSecurityPolicy: { directives: STRICT_CSP } });
  app.addHook('onRequest', async (_req, reply) => {
    void reply.headers(headers);
  });
  const err = (code: number, error: string, message: string, details?: unknown) => ({ code, body: { error, message, ...(details ? { details } : {}) } });

  const frame = (s: number, est: QueueEstimate) => `id: ${s}\nevent: estimate\ndata: ${JSON.stringify(est)}\n\n`;
  const publish = (key: string, patch: Partial<QueueEstimate>): QueueEstimate => {
    const cur = estimates.get(key);
    if (!cur) throw new Error(`no queue ${key}`);
    const next: QueueEstimate = { ...cur, ...patch, revision: cur.revision + 1, updatedAt: new Date().toISOString() };
    estimates.set(key, next);
    seq += 1;
    log.push({ seq, est: next });
    if (!frozen) for (const c of clients) if (!c.crossingId || c.crossingId === next.crossingId) c.res.write(frame(seq, next));
    return next;
  };

  const crossingsBody = () => ({
    crossings: catalogue.crossings.map((c) => ({
      id: c.id,
      names: c.names,
      neighbourName: c.neighbourName,
      countries: c.countries,
      directions: c.directions,
      timeZones: c.timeZones,
      localTimeZone: catalogue.localZone(c.id),
      coordinates: c.coordinates,
      vehicleClasses: c.vehicleClasses,
      operatingHours: c.operatingHours,
      status: c.status,
      queues: [...estimates.values()].filter((e) => e.crossingId === c.id),
    })),
  });
  app.get('/v1/crossings', async (_req, reply) => {
    if (crossingsStatus !== null) {
      const e = err(crossingsStatus, 'unavailable', 'service unavailable (fixture)');
      return reply.code(e.code).send(e.body);
    }
    return crossingsBody();
  });

  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>('/v1/crossings/:id/history', async (req, reply) => {
    const q = req.query;
    const key = `${req.params.id}|${q.direction}|${q.vehicleClass}`;
    const est = estimates.get(key);
    if (!est) {
      const e = err(404, 'not_found', `no queue ${key}`);
      return reply.code(e.code).send(e.body);
    }
    const from = Date.parse(q.from ?? '');
    const to = Date.parse(q.to ?? '');
    const step = STEPS[q.step ?? '15m'];
    if (!Number.isFinite(from) || !Number.isFinite(to) || !step || to <= from) {
      const e = err(400, 'bad_request', 'from/to/step invalid');
      return reply.code(e.code).send(e.body);
    }
    // like the real API: bucket times as ISO-8601 strings
    return { points: syntheticHistory(est, from, to, step).map((p) => ({ ...p, t: new Date(p.t).toISOString() })), timeZone: 'UTC' };
  });

  app.get<{ Querystring: { crossingId?: string } }>('/v1/stream', (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    if (frozen) {
      held.add(res);
      req.raw.on('close', () => held.delete(res));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const client = { res, crossingId: req.query.crossingId };
    const last = Number(req.headers['last-event-id']);
    if (Number.isFinite(last)) for (const m of log) if (m.seq > last) res.write(frame(m.seq, m.est));
    res.write(': connected\n\n');
    clients.add(client);
    req.raw.on('close', () => clients.delete(client));
  });

  app.post('/v1/events', async (req, reply) => {
    if (req.headers.authorization !== `Bearer ${opts.officialToken}`) {
      const e = err(401, 'unauthorized', 'missing or invalid bearer token');
      return reply.code(e.code).header('WWW-Authenticate', 'Bearer').send(e.body);
    }
    const list = Array.isArray(req.body) ? req.body : [req.body];
    const details: { index: number; path: string; message: string }[] = [];
    const valid = list.map((ev, index) => {
      const r = validateEvent(ev, { catalogue });
      if (!r.ok) for (const i of r.issues) details.push({ index, ...i });
      return r.ok ? r.event : null;
    });
    if (details.length) {
      const e = err(400, 'bad_request', `${details.length} invalid field(s)`, details);
      return reply.code(e.code).send(e.body);
    }
    let accepted = 0;
    let duplicates = 0;
    for (const ev of valid) {
      if (!ev) continue;
      if (seen.has(ev.eventId)) {
        duplicates += 1;
        continue;
      }
      seen.add(ev.eventId);
      accepted += 1;
      const at = new Date(Date.parse(ev.occurredAt)).toISOString();
      for (const [key, est] of estimates) {
        if (est.crossingId !== ev.crossingId) continue;
        if (ev.direction && est.direction !== ev.direction) continue;
        if (ev.vehicleClass && est.vehicleClass !== ev.vehicleClass) continue;
        const next = { ...est, lastEventAt: at, asOf: at, stale: false };
        if (ev.type === 'lanes.changed') next.lanesOpen = ev.lanesOpen;
        else if (ev.type === 'crossing.status') {
          next.status = ev.status;
          next.statusUntil = ev.until ? new Date(Date.parse(ev.until)).toISOString() : null;
          next.statusReason = ev.reason ?? null;
        } else continue;
        recomputeWait(next, catalogue.profile(est.crossingId, est.vehicleClass)!.serviceTimeMeanSeconds);
        publish(key, next);
      }
    }
    return reply.code(202).send({ accepted, duplicates });
  });

  await app.register(dashboardRoutes, { catalogue });
  const address = await app.listen({ port: opts.port ?? 0, host: '127.0.0.1' });
  return {
    app,
    url: address,
    catalogue,
    estimates,
    publish,
    dropStreams: () => {
      for (const c of clients) c.res.destroy();
      clients.clear();
    },
    freezeStreams: (on: boolean) => {
      frozen = on;
      if (!on) {
        for (const res of held) res.destroy();
        held.clear();
      }
    },
    failCrossings: (status: number | null) => {
      crossingsStatus = status;
    },
    close: async () => {
      clearInterval(heartbeat);
      for (const res of held) res.destroy();
      for (const c of clients) c.res.end();
      clients.clear();
      await app.close();
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const api = await startFixtureApi({ officialToken: 'official-dev-token', port: Number(process.env.PORT ?? 3300) });
  process.stdout.write(`fixture API + dashboard at ${api.url}/ (official token: official-dev-token)\n`);
}
