/**
 * GET /v1/crossings/:id/forecast and /best-time: the fluid model (shared/forecast/fluid.ts) started from the
 * queue's current estimate. Responses say `kind: 'forecast'` so nobody mistakes them for measurements.
 */
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { VehicleClass } from '../../../shared/catalogue/index.ts';
import { bestTimes, createFluidModel, MAX_HORIZON_MS, noWaitReason, type FluidModel, type FluidState, type NoWaitReason } from '../../../shared/forecast/fluid.ts';
import type { AppContext, RouteOpts } from '../context.ts';
import { badRequest } from '../errors.ts';
import { checkQueueFilter, requireCrossing } from '../lookup.ts';
import { BestTimeQuerySchema, BestTimeResponseSchema, CrossingParamsSchema, ErrorBodySchema, ForecastQuerySchema, ForecastResponseSchema, parseDurationMs } from '../schemas.ts';
import { docSchema, zs } from '../validation.ts';

const ASSUMPTIONS = [
  'arrivals follow the seed hour-of-week profile in the crossing local zone',
  'capacity starts at the live estimate and relaxes to the typical lanes x service rate',
  'operating hours and the current known closure are respected; unannounced closures are not foreseen',
];

/** Why best-time leaves slots unranked, for API clients (the code is `unavailable.reason`). */
const NO_WAIT_MESSAGES: Record<NoWaitReason, string> = {
  'closed-unknown-reopening': 'the queue is closed with no announced reopening: no wait can be forecast, so these hours are not ranked',
  'no-lanes-open': 'no lane is open and none is announced to reopen: no wait can be forecast, so these hours are not ranked',
  'beyond-horizon': 'the vehicles ahead would not be served within 7 days: no wait can be forecast, so these hours are not ranked',
};

function modelFor(ctx: AppContext, crossingId: string, direction: string, vehicleClass: VehicleClass, now: number): { model: FluidModel; state: FluidState; basedOn: Record<string, unknown> } {
  const c = ctx.catalogue.get(crossingId)!;
  const profile = ctx.catalogue.profile(crossingId, vehicleClass)!;
  const est = ctx.view.get({ crossingId, direction, vehicleClass });
  const state: FluidState = {
    nowMs: now,
    queueLength: est?.queueLength ?? 0,
    lanesOpen: est?.lanesOpen ?? null,
    waitSeconds: est?.waitSeconds ?? null,
    status: est?.status ?? c.status,
    statusUntilMs: est?.statusUntil ? Date.parse(est.statusUntil) : null,
  };
  const model = createFluidModel({ profile, localZone: ctx.catalogue.localZone(crossingId) ?? 'UTC', operatingHours: c.operatingHours }, state);
  return {
    model,
    state,
    basedOn: { estimateAsOf: est?.asOf ?? null, revision: est?.revision ?? null, queueLength: state.queueLength, status: state.status, statusUntil: est?.statusUntil ?? null },
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const basedOnExample = { estimateAsOf: '2026-11-22T05:59:40.000Z', revision: 1873, queueLength: 212, status: 'open', statusUntil: null };

export async function forecastRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  app.get<{ Params: z.infer<typeof CrossingParamsSchema>; Querystring: z.infer<typeof ForecastQuerySchema> }>(
    '/v1/crossings/:id/forecast',
    {
      config: { access: { kind: 'read' } },
      schema: {
        tags: ['forecast'],
        summary: 'Forecast wait for a vehicle joining the queue at arriveAt',
        params: zs(CrossingParamsSchema),
        querystring: zs(ForecastQuerySchema),
        response: {
          200: docSchema(ForecastResponseSchema, {
            description: 'The forecast for a vehicle joining at arriveAt',
            examples: [{ kind: 'forecast', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', arriveAt: '2026-11-22T09:00:00.000Z', generatedAt: '2026-11-22T06:00:00.000Z', waitSeconds: 5400, waitP10Seconds: 3900, waitP90Seconds: 8100, queueLengthAtArrival: 48.5, capacityPerHourAtArrival: 24, arrivalsPerHourAtArrival: 22, method: 'fluid', basedOn: basedOnExample, assumptions: ASSUMPTIONS }],
          }),
          400: docSchema(ErrorBodySchema),
          404: docSchema(ErrorBodySchema),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const c = requireCrossing(ctx.catalogue, id);
      checkQueueFilter(c, q.direction, q.vehicleClass);
      const now = ctx.now();
      const arriveAt = Date.parse(q.arriveAt);
      if (arriveAt < now - 5 * 60_000) throw badRequest('arriveAt is in the past (use /waits?asOf= for the past)', [{ path: 'query.arriveAt', message: 'is in the past' }]);
      if (arriveAt > now + MAX_HORIZON_MS) throw badRequest('arriveAt may be at most 7 days ahead', [{ path: 'query.arriveAt', message: 'more than 7 days ahead' }]);
      const { model, basedOn } = modelFor(ctx, id, q.direction, q.vehicleClass, now);
      const p = model.at(Math.max(now, arriveAt));
      return {
        kind: 'forecast',
        crossingId: id,
        direction: q.direction,
        vehicleClass: q.vehicleClass,
        arriveAt: iso(p.t),
        generatedAt: iso(now),
        waitSeconds: p.waitSeconds,
        waitP10Seconds: p.waitP10Seconds,
        waitP90Seconds: p.waitP90Seconds,
        queueLengthAtArrival: p.queueLength,
        capacityPerHourAtArrival: p.capacityPerHour,
        arrivalsPerHourAtArrival: p.arrivalsPerHour,
        method: 'fluid',
        basedOn,
        assumptions: ASSUMPTIONS,
      };
    },
  );

  app.get<{ Params: z.infer<typeof CrossingParamsSchema>; Querystring: z.infer<typeof BestTimeQuerySchema> }>(
    '/v1/crossings/:id/best-time',
    {
      config: { access: { kind: 'read' } },
      schema: {
        tags: ['forecast'],
        summary: 'The hour slots of the coming period ranked by forecast wait (best first)',
        description: 'The clock hours of [now, now + within]: the first slot starts now, the last ends at now + within. Each wait is for a vehicle joining at the slot\'s `from`.',
        params: zs(CrossingParamsSchema),
        querystring: zs(BestTimeQuerySchema),
        response: {
          200: docSchema(BestTimeResponseSchema, {
            description: 'The hour slots of [now, now + within], best first',
            examples: [{
              kind: 'forecast', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', within: '24h', generatedAt: '2026-11-22T06:00:00.000Z', timeZone: 'Asia/Almaty', method: 'fluid', basedOn: basedOnExample,
              slots: [{ from: '2026-11-22T21:00:00.000Z', to: '2026-11-22T22:00:00.000Z', rank: 1, waitSeconds: 600, waitP10Seconds: 420, waitP90Seconds: 1100, queueLength: 2 }], unavailable: null, assumptions: ASSUMPTIONS,
            }],
          }),
          400: docSchema(ErrorBodySchema),
          404: docSchema(ErrorBodySchema),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const q = request.query;
      const c = requireCrossing(ctx.catalogue, id);
      checkQueueFilter(c, q.direction, q.vehicleClass);
      const now = ctx.now();
      const { model, state, basedOn } = modelFor(ctx, id, q.direction, q.vehicleClass, now);
      const { ranked, unavailable } = bestTimes(model, now, parseDurationMs(q.within));
      const reason = unavailable.length > 0 ? noWaitReason(state) : null;
      return {
        kind: 'forecast',
        crossingId: id,
        direction: q.direction,
        vehicleClass: q.vehicleClass,
        within: q.within,
        generatedAt: iso(now),
        timeZone: ctx.catalogue.localZone(id) ?? 'UTC',
        method: 'fluid',
        basedOn,
        slots: ranked.map((s) => ({ from: iso(s.from), to: iso(s.to), rank: s.rank, waitSeconds: s.waitSeconds, waitP10Seconds: s.waitP10Seconds, waitP90Seconds: s.waitP90Seconds, queueLength: s.queueLength })),
        // hours with no wait figure are listed apart, never ranked: an empty `slots` means there is no good time to go
        unavailable: reason === null ? null : { reason, message: NO_WAIT_MESSAGES[reason], slots: unavailable.map((s) => ({ from: iso(s.from), to: iso(s.to) })) },
        assumptions: ASSUMPTIONS,
      };
    },
  );
}
