/** Liveness (`/healthz`) and readiness (`/readyz`) for orchestrators and the k6 setup(). */
import type { FastifyInstance } from 'fastify';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { Subjects } from '../../../shared/events/subjects.ts';
import type { RouteOpts } from '../context.ts';

interface Check {
  ok: boolean;
  reason?: string;
  [k: string]: unknown;
}

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref())]);

/**
 * Is the estimator keeping up? Messages waiting in its durable consumer(s) while nobody has pulled for `maxIdleMs`
 * (a dead or stuck estimator), or messages in the stream and no consumer at all, make the API not ready. With
 * ESTIMATOR_PARTITIONING=crossing there is one durable per crossing (created when an instance takes the crossing).
 */
export async function estimatorConsumerCheck(jsm: JetStreamManager, s: Subjects, durables: string[], partitioned: boolean, now: number, maxIdleMs: number): Promise<Check> {
  const infos = await Promise.all(
    durables.map((name) =>
      withTimeout(jsm.consumers.info(s.eventsStream, name), 2000, 'estimator consumer').then(
        (info) => ({ name, info, err: undefined }),
        (err: unknown) => ({ name, info: undefined, err: err as { message?: string; apiError?: () => { err_code?: number } } }),
      ),
    ),
  );
  const notFound = (e: (typeof infos)[number]['err']) => e?.apiError?.().err_code === 10014 || /consumer not found/i.test(e?.message ?? '');
  // no permission / a timeout: leave the verdict to the estimate-age check
  const unknown = infos.find((i) => i.err && !notFound(i.err));
  if (unknown) return { ok: true, reason: `estimator lag unknown: ${unknown.err?.message ?? 'error'}` };
  const found = infos.flatMap((i) => (i.info ? [i.info] : []));
  if (found.length === 0) {
    const events = (await withTimeout(jsm.streams.info(s.eventsStream), 2000, `stream ${s.eventsStream}`)).state.messages;
    return events > 0 ? { ok: false, pending: events, reason: `${events} messages in ${s.eventsStream} and no estimator consumer ${partitioned ? `${s.estimatorDurable}-<crossing>` : s.estimatorDurable}` } : { ok: true, pending: 0 };
  }
  let pending = 0;
  const stuck: string[] = [];
  for (const info of found) {
    const p = info.num_pending + info.num_ack_pending;
    pending += p;
    // the server sends RFC 3339 strings here, whatever the client's type says; a consumer that never delivered has
    // no last_active: its idle time counts from its creation (it used to count from 1970)
    const lastActive = Date.parse(String(info.delivered.last_active ?? ''));
    const pulled = Number.isFinite(lastActive);
    const idleMs = now - (pulled ? lastActive : Date.parse(String(info.created)));
    const idle = `${Math.round(idleMs / 1000)}s`;
    if (p > 0 && info.num_waiting === 0 && idleMs > maxIdleMs) stuck.push(`${info.name}: ${p} messages pending, no pull ${pulled ? `for ${idle}` : `since it was created ${idle} ago`}`);
  }
  return stuck.length ? { ok: false, pending, reason: `estimator not consuming: ${stuck.join('; ')}` } : { ok: true, pending };
}

export async function healthRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  const ops = { config: { access: { kind: 'ops' as const } } };
  app.get(
    '/healthz',
    { ...ops, schema: { tags: ['ops'], summary: 'Liveness: the process is up', response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['alive'] } }, required: ['status'], additionalProperties: false, examples: [{ status: 'alive' }] } } } },
    async () => ({ status: 'alive' }),
  );
  const readyExample = { status: 'ready', checks: { nats: { ok: true }, streams: { ok: true }, redis: { ok: true }, store: { ok: true }, consumer: { ok: true, pending: 0 }, estimator: { ok: true, ageSeconds: 4 } } };
  const checkDoc = {
    type: 'object',
    properties: {
      ok: { type: 'boolean' },
      reason: { type: 'string', description: 'why not ok, or a note on an ok check' },
      pending: { type: 'integer', description: 'consumer: messages the estimator has not consumed yet' },
      ageSeconds: { type: 'integer', description: 'estimator: age of the newest estimate' },
    },
    required: ['ok'],
    additionalProperties: false,
  };
  const checksDoc = {
    type: 'object',
    properties: {
      status: { type: 'string', enum: ['ready', 'degraded'] },
      checks: { type: 'object', description: 'one entry per check: nats, streams, consumer, redis, store, estimator', additionalProperties: checkDoc },
    },
    required: ['status', 'checks'],
    additionalProperties: false,
  };

  app.get(
    '/readyz',
    {
      ...ops,
      schema: {
        tags: ['ops'],
        summary: 'Readiness: NATS, streams, Redis, store, estimator freshness',
        response: {
          200: { ...checksDoc, examples: [readyExample] },
          503: { ...checksDoc, examples: [{ status: 'degraded', checks: { ...readyExample.checks, store: { ok: false, reason: 'queue store not initialised (estimator has not rebuilt it yet)' } } }] },
        },
      },
    },
    async (_req, reply) => {
    const checks: Record<string, Check> = {};
    const closed = ctx.nc.isClosed();
    checks.nats = closed ? { ok: false, reason: 'connection closed' } : { ok: true };
    try {
      if (closed) throw new Error('NATS connection closed');
      const jsm = await withTimeout(jetstreamManager(ctx.nc), 2000, 'jetstream');
      const missing: string[] = [];
      for (const name of [ctx.subjects.eventsStream, ctx.subjects.estimatesStream]) {
        try {
          await withTimeout(jsm.streams.info(name), 2000, `stream ${name}`);
        } catch {
          missing.push(name);
        }
      }
      checks.streams = missing.length ? { ok: false, reason: `missing or unreachable: ${missing.join(', ')}` } : { ok: true };
      const partitioned = ctx.config.ESTIMATOR_PARTITIONING === 'crossing';
      const durables = partitioned ? [...new Set(ctx.catalogue.queues().map((q) => `${ctx.subjects.estimatorDurable}-${q.crossingId}`))] : [ctx.subjects.estimatorDurable];
      checks.consumer = await estimatorConsumerCheck(jsm, ctx.subjects, durables, partitioned, ctx.now(), ctx.config.STALE_AFTER_SECONDS * 1000);
    } catch (err) {
      checks.streams = { ok: false, reason: (err as Error).message };
    }
    try {
      await withTimeout(ctx.redis.ping(), 2000, 'redis ping');
      checks.redis = { ok: true };
    } catch (err) {
      checks.redis = { ok: false, reason: (err as Error).message };
    }
    try {
      const init = await withTimeout(ctx.reader.isInitialised(), 2000, 'store check');
      checks.store = init ? { ok: true } : { ok: false, reason: 'queue store not initialised (estimator has not rebuilt it yet)' };
    } catch (err) {
      checks.store = { ok: false, reason: (err as Error).message };
    }
    const newest = ctx.view.newestUpdateMs();
    const maxAgeMs = ctx.config.STALE_AFTER_SECONDS * 1000;
    if (newest === null) checks.estimator = { ok: false, reason: 'no estimates received yet' };
    else {
      const ageSeconds = Math.round((ctx.now() - newest) / 1000);
      // Old estimates with nothing pending is a quiet period (a night closure, a quiet border), not a fault:
      // an API must not be taken out of a load balancer for it. With events pending (or lag unknown) it is one.
      const quiet = checks.consumer?.ok === true && checks.consumer.pending === 0;
      checks.estimator =
        ageSeconds * 1000 <= maxAgeMs
          ? { ok: true, ageSeconds }
          : quiet
            ? { ok: true, ageSeconds, reason: `no new events for ${ageSeconds}s; nothing pending` }
            : { ok: false, ageSeconds, reason: `newest estimate is ${ageSeconds}s old (limit ${ctx.config.STALE_AFTER_SECONDS}s)` };
    }
    const ready = Object.values(checks).every((c) => c.ok);
    void reply.header('Cache-Control', 'no-store');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'degraded', checks });
    },
  );
}
