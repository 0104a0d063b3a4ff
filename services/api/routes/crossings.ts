/** GET /v1/crossings and /v1/crossings/:id: the catalogue with live status and every queue's current estimate. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Crossing } from '../../../shared/catalogue/index.ts';
import { OperatingHoursSchema, SourceSchema, VehicleClassSchema } from '../../../shared/catalogue/schema.ts';
import { QueueStatusSchema } from '../../../shared/estimates.ts';
import type { AppContext, RouteOpts } from '../context.ts';
import { notFound } from '../errors.ts';
import { sendCached } from '../lookup.ts';
import { etagOf } from '../view.ts';
import { CrossingParamsSchema, EmptyQuerySchema, ErrorBodySchema, QueueWaitSchema } from '../schemas.ts';
import { docSchema, zs } from '../validation.ts';

export function crossingBody(ctx: AppContext, c: Crossing) {
  const live = ctx.view.crossingStatus(c.id);
  return {
    id: c.id,
    names: c.names,
    neighbourName: c.neighbourName,
    countries: c.countries,
    directions: c.directions,
    timeZones: c.timeZones,
    localZone: ctx.catalogue.localZone(c.id) ?? null,
    coordinates: c.coordinates,
    region: c.region ?? null,
    vehicleClasses: c.vehicleClasses,
    operatingHours: c.operatingHours,
    status: live.status,
    statusUntil: live.statusUntil,
    catalogueStatus: c.status,
    statusNote: c.statusNote ?? null,
    queues: ctx.view.queuesOf(c.id),
    sources: c.sources,
  };
}

const CrossingDoc = z.object({
  id: z.string(),
  names: z.object({ en: z.string(), ru: z.string(), kk: z.string() }),
  neighbourName: z.object({ en: z.string(), local: z.string().optional(), ru: z.string().optional() }).meta({ description: 'the name used on the other side of the border' }),
  countries: z.array(z.string()).meta({ description: 'ISO 3166-1 alpha-2 codes, the Kazakh side first' }),
  directions: z.array(z.string()),
  timeZones: z.record(z.string(), z.string()).meta({ description: 'IANA zone per side, keyed by country code' }),
  localZone: z.string().nullable().meta({ description: "the crossing's local time zone (countries[0]'s)" }),
  coordinates: z.object({ lat: z.number(), lon: z.number() }),
  region: z.string().nullable(),
  vehicleClasses: z.array(VehicleClassSchema),
  operatingHours: OperatingHoursSchema,
  status: QueueStatusSchema.meta({ description: 'live status: from the latest estimates when there are any, else the catalogue status' }),
  statusUntil: z.string().nullable(),
  catalogueStatus: QueueStatusSchema.meta({ description: "the catalogue's (seed) status" }),
  statusNote: z.string().nullable(),
  queues: z.array(QueueWaitSchema),
  sources: z.array(SourceSchema).meta({ description: 'where the catalogue figures come from' }),
});
const crossingExample = {
  id: 'korday', names: { en: 'Korday', ru: 'Кордай', kk: 'Қордай' }, neighbourName: { en: 'Ak-Zhol', local: 'Ак-Жол' }, countries: ['KZ', 'KG'], directions: ['KZ-KG', 'KG-KZ'],
  timeZones: { KZ: 'Asia/Almaty', KG: 'Asia/Bishkek' }, localZone: 'Asia/Almaty', coordinates: { lat: 42.96, lon: 74.66 }, region: 'Zhambyl', vehicleClasses: ['truck', 'car', 'bus', 'pedestrian'],
  operatingHours: { mode: '24h' }, status: 'open', statusUntil: null, catalogueStatus: 'open', statusNote: null, queues: [], sources: [{ title: 'shymkent.city: Korday checkpoint reconstructed (up to 35,000 people a day in season, 8 lanes each way)', url: 'https://shymkent.city/novosti-kazakhstana/10790' }],
};

export async function crossingRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  const read = { config: { access: { kind: 'read' as const } } };
  app.get(
    '/v1/crossings',
    {
      ...read,
      schema: {
        tags: ['crossings'],
        summary: 'Every crossing with live status and current estimates',
        description: 'Send If-None-Match with the last ETag: 304 when nothing changed.',
        querystring: zs(EmptyQuerySchema),
        response: { 200: docSchema(z.object({ crossings: z.array(CrossingDoc) }), { examples: [{ crossings: [crossingExample] }] }) },
      },
    },
    async (request, reply) => {
      const body = JSON.stringify({ crossings: ctx.catalogue.crossings.map((c) => crossingBody(ctx, c)) });
      return sendCached(request, reply, { body, etag: etagOf(body) }, { cacheControl: 'public, max-age=5' });
    },
  );

  app.get<{ Params: z.infer<typeof CrossingParamsSchema> }>(
    '/v1/crossings/:id',
    {
      ...read,
      schema: {
        tags: ['crossings'],
        summary: 'One crossing with live status and current estimates',
        description: 'Send If-None-Match with the last ETag: 304 when nothing changed.',
        params: zs(CrossingParamsSchema),
        querystring: zs(EmptyQuerySchema),
        response: { 200: docSchema(CrossingDoc, { examples: [crossingExample] }), 404: docSchema(ErrorBodySchema) },
      },
    },
    async (request, reply) => {
      const c = ctx.catalogue.get(request.params.id);
      if (!c) throw notFound(`unknown crossing "${request.params.id}" (known: ${ctx.catalogue.crossings.map((x) => x.id).join(', ')})`);
      const body = JSON.stringify(crossingBody(ctx, c));
      return sendCached(request, reply, { body, etag: etagOf(body) }, { cacheControl: 'public, max-age=5' });
    },
  );
}
