/** GET /v1/crossings/:id/history: downsampled time series of one queue (event time), UTC or the crossing's zone. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DateTime } from 'luxon';
import type { RouteOpts } from '../context.ts';
import { badRequest } from '../errors.ts';
import { checkQueueFilter, requireCrossing, requireRebuiltStore } from '../lookup.ts';
import { CrossingParamsSchema, ErrorBodySchema, HISTORY_MAX_POINTS, HISTORY_MAX_SPAN_MS, HISTORY_STEPS, HistoryQuerySchema } from '../schemas.ts';
import { docSchema, zs } from '../validation.ts';

const PointDoc = z.object({
  t: z.string(),
  tLocal: z.string().optional(),
  queueLength: z.number().nullable(),
  lanesOpen: z.number().nullable(),
  status: z.enum(['open', 'closed', 'restricted']).nullable(),
  waitSeconds: z.number().nullable(),
  waitP10Seconds: z.number().nullable(),
  waitP90Seconds: z.number().nullable(),
  realisedWaitSeconds: z.number().nullable(),
  arrivals: z.number(),
  served: z.number(),
});
const HistoryDoc = z.object({
  crossingId: z.string(), direction: z.string(), vehicleClass: z.string(), from: z.string(), to: z.string(), step: z.string(), timeZone: z.string(), points: z.array(PointDoc),
});

export async function historyRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  app.get<{ Params: z.infer<typeof CrossingParamsSchema>; Querystring: z.infer<typeof HistoryQuerySchema> }>(
    '/v1/crossings/:id/history',
    {
      config: { access: { kind: 'read' } },
      schema: {
        tags: ['waits'],
        summary: 'Time series of one queue: length, lanes, estimated and realised waits',
        description:
          `Steps: ${Object.keys(HISTORY_STEPS).join(', ')} (the store keeps 5-minute buckets); span at most 31 days and ${HISTORY_MAX_POINTS} points. ` +
          'History ends now: `from` must be in the past and a later `to` is cut to now. A point `t` covers [t, t + step): `arrivals`, `served` and ' +
          "`realisedWaitSeconds` count that interval; the estimate fields are the last estimate published before its end. tz=local adds tLocal in the crossing's zone.",
        params: zs(CrossingParamsSchema),
        querystring: zs(HistoryQuerySchema),
        response: {
          200: docSchema(HistoryDoc, {
            examples: [{ crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', from: '2026-11-21T00:00:00.000Z', to: '2026-11-22T00:00:00.000Z', step: '1h', timeZone: 'Asia/Almaty',
              points: [{ t: '2026-11-21T00:00:00.000Z', tLocal: '2026-11-21T05:00:00.000+05:00', queueLength: 31, lanesOpen: 4, status: 'open', waitSeconds: 4200, waitP10Seconds: 3000, waitP90Seconds: 6000, realisedWaitSeconds: 3900, arrivals: 6, served: 7 }] }],
          }),
          400: docSchema(ErrorBodySchema),
          404: docSchema(ErrorBodySchema),
          503: docSchema(ErrorBodySchema),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const q = request.query;
      const c = requireCrossing(ctx.catalogue, id);
      checkQueueFilter(c, q.direction, q.vehicleClass);
      const now = ctx.now();
      const fromMs = Date.parse(q.from);
      // history ends now: a later `to` is cut to now (its points would only repeat the last state, as if known)
      const toMs = Math.min(q.to === undefined ? now : Date.parse(q.to), now);
      const stepMs = HISTORY_STEPS[q.step];
      if (fromMs >= now) throw badRequest('from must be in the past: history ends now (see /forecast for what lies ahead)', [{ path: 'query.from', message: 'must be in the past' }]);
      if (toMs <= fromMs) throw badRequest('to must be after from', [{ path: 'query.to', message: 'must be after from' }]);
      if (toMs - fromMs > HISTORY_MAX_SPAN_MS) throw badRequest('the range may span at most 31 days', [{ path: 'query.from', message: 'range longer than 31 days' }]);
      if ((toMs - fromMs) / stepMs > HISTORY_MAX_POINTS) throw badRequest(`at most ${HISTORY_MAX_POINTS} points: use a larger step`, [{ path: 'query.step', message: 'too fine for this range' }]);
      const zone = q.tz === 'local' ? (ctx.catalogue.localZone(id) ?? 'UTC') : 'UTC';
      await requireRebuiltStore(ctx.reader);
      const points = await ctx.reader.readHistory({ crossingId: id, direction: q.direction, vehicleClass: q.vehicleClass }, fromMs, toMs, stepMs);
      void reply.header('Cache-Control', 'public, max-age=30');
      return {
        crossingId: id,
        direction: q.direction,
        vehicleClass: q.vehicleClass,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        step: q.step,
        timeZone: zone,
        points: points.map((p) => {
          const t = new Date(p.t).toISOString();
          const local = q.tz === 'local' ? { tLocal: DateTime.fromMillis(p.t, { zone }).toISO() } : {};
          return { ...p, t, ...local };
        }),
      };
    },
  );
}
