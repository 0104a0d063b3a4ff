/**
 * GET /v1/crossings/:id/waits and GET /v1/waits. Current waits come from the in-process view as precomputed
 * bodies with ETags (a poll costs no Redis round trip and no serialisation); `asOf` asks the queue store for
 * the estimate a vehicle joining at that instant would have got.
 */
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { QueueEstimate } from '../../../shared/estimates.ts';
import type { RouteOpts } from '../context.ts';
import { badRequest } from '../errors.ts';
import { checkQueueFilter, requireCrossing, requireRebuiltStore, sendCached } from '../lookup.ts';
import { BulkWaitsResponseSchema, CrossingParamsSchema, EmptyQuerySchema, ErrorBodySchema, WaitsQuerySchema, WaitsResponseSchema } from '../schemas.ts';
import { docSchema, zs } from '../validation.ts';
import { etagOf, toQueueView } from '../view.ts';

const queueExample = {
  direction: 'KZ-KG', vehicleClass: 'truck', status: 'open', statusUntil: null, statusReason: null, lanesOpen: 4, queueLength: 57,
  waitSeconds: 5400, waitP10Seconds: 3900, waitP90Seconds: 7800, lastEventAt: '2026-11-22T08:14:51Z', updatedAt: '2026-11-22T08:14:52Z',
  method: 'queue-model', stale: false, staleAt: '2026-11-22T08:29:51Z', revision: 1832,
};

export async function waitsRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  const read = { config: { access: { kind: 'read' as const } } };
  const staleAfterMs = ctx.config.STALE_AFTER_SECONDS * 1000;

  app.get<{ Params: z.infer<typeof CrossingParamsSchema>; Querystring: z.infer<typeof WaitsQuerySchema> }>(
    '/v1/crossings/:id/waits',
    {
      ...read,
      schema: {
        tags: ['waits'],
        summary: 'Current (or as-of) wait of every queue of a crossing',
        description: 'Send If-None-Match with the last ETag: 304 when nothing changed. Poll no faster than every 5 s (Cache-Control).',
        params: zs(CrossingParamsSchema),
        querystring: zs(WaitsQuerySchema),
        response: {
          200: docSchema(WaitsResponseSchema, { examples: [{ crossingId: 'korday', asOf: '2026-11-22T08:14:52Z', queues: [queueExample] }] }),
          304: { type: 'null', description: 'Not modified' },
          400: docSchema(ErrorBodySchema),
          404: docSchema(ErrorBodySchema),
          503: docSchema(ErrorBodySchema),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { direction, vehicleClass, asOf } = request.query;
      const c = requireCrossing(ctx.catalogue, id);
      checkQueueFilter(c, direction, vehicleClass);
      if (asOf === undefined) return sendCached(request, reply, ctx.view.crossingWaits(id, { direction, vehicleClass }), { now: ctx.now });

      const asOfMs = Date.parse(asOf);
      const now = ctx.now();
      if (asOfMs > now) throw badRequest('asOf must not be in the future (use /forecast for the future)', [{ path: 'query.asOf', message: 'is in the future' }]);
      const refs = c.directions.flatMap((d) => c.vehicleClasses.map((vc) => ({ crossingId: id, direction: d, vehicleClass: vc })))
        .filter((q) => (!direction || q.direction === direction) && (!vehicleClass || q.vehicleClass === vehicleClass));
      await requireRebuiltStore(ctx.reader);
      let ests: QueueEstimate[];
      try {
        ests = await Promise.all(refs.map((q) => ctx.reader.estimateAsOf(q, asOfMs)));
      } catch (err) {
        if ((err as { code?: unknown }).code === 'OUT_OF_RETENTION') {
          throw badRequest('asOf is older than the retained history', [{ path: 'query.asOf', message: 'before the retention boundary' }]);
        }
        throw err;
      }
      // staleness is judged at asOf: far past the newest event known then means stale
      const queues = refs.map((q, i) => toQueueView(c, q.direction, q.vehicleClass, ests[i], asOfMs, staleAfterMs));
      const body = JSON.stringify({ crossingId: id, asOf: new Date(asOfMs).toISOString(), queues });
      // a past instant's answer only changes if late events arrive: cache a little longer
      return sendCached(request, reply, { body, etag: etagOf(body) }, { cacheControl: 'public, max-age=60' });
    },
  );

  app.get(
    '/v1/waits',
    {
      ...read,
      schema: {
        tags: ['waits'],
        summary: 'Current wait of every queue of every crossing (bulk)',
        description: 'Same ETag/304 handling as the per-crossing endpoint.',
        querystring: zs(EmptyQuerySchema),
        response: {
          200: docSchema(BulkWaitsResponseSchema, { examples: [{ asOf: '2026-11-22T08:14:52Z', crossings: [{ crossingId: 'korday', status: 'open', statusUntil: null, queues: [queueExample] }] }] }),
          304: { type: 'null', description: 'Not modified' },
        },
      },
    },
    async (request, reply) => sendCached(request, reply, ctx.view.allWaits(), { now: ctx.now }),
  );
}
