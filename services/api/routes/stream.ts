/** GET /v1/stream: Server-Sent Events of estimate changes (see ../sse.ts). */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { RouteOpts } from '../context.ts';
import { badRequest } from '../errors.ts';
import { checkQueueFilter, requireCrossing } from '../lookup.ts';
import { ErrorBodySchema, StreamQuerySchema } from '../schemas.ts';
import { docRequestSchema, docSchema, zs } from '../validation.ts';

export async function streamRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  app.get<{ Querystring: z.infer<typeof StreamQuerySchema> }>(
    '/v1/stream',
    {
      config: { access: { kind: 'read' } },
      schema: {
        tags: ['stream'],
        summary: 'Server-Sent Events: `event: estimate` for every estimate change (id = stream sequence)',
        description:
          'Reconnect with the `Last-Event-ID` header to receive the updates you missed (kept 24 h). A comment line is sent every 15 s. ' +
          'Events: `estimate` (QueueEstimate JSON), and final `overflow` (client too slow) or `shutdown`.',
        querystring: zs(StreamQuerySchema),
        // checked by the handler (a 400 that names the header)
        headers: docRequestSchema(z.object({ 'last-event-id': z.string().regex(/^\d{1,15}$/).optional().meta({ description: 'Resume after this event id (the `id:` of the last event received)', example: '1842' }) })),
        response: {
          // only the stream itself is text/event-stream: its 4xx answers are JSON like every error
          200: {
            description: 'The event stream (never ends while the client listens)',
            content: {
              'text/event-stream': {
                schema: { type: 'string', description: 'Server-Sent Events: `id:`, `event:` (estimate, overflow, shutdown) and `data:` (JSON) lines; a comment line every 15 s' },
                example: 'id: 1842\nevent: estimate\ndata: {"crossingId":"korday","direction":"KZ-KG","vehicleClass":"truck","waitSeconds":5400,...}\n\n',
              },
            },
          },
          400: docSchema(ErrorBodySchema),
          404: docSchema(ErrorBodySchema),
        },
      },
    },
    async (request, reply) => {
      const { crossingId, direction, vehicleClass } = request.query;
      if (crossingId !== undefined) checkQueueFilter(requireCrossing(ctx.catalogue, crossingId), direction, vehicleClass);
      const header = request.headers['last-event-id'];
      let lastEventId: number | undefined;
      if (header !== undefined && header !== '') {
        if (!/^\d{1,15}$/.test(String(header))) throw badRequest('Last-Event-ID must be a stream sequence number', [{ path: 'headers.last-event-id', message: 'must be a non-negative integer' }]);
        lastEventId = Number(header);
      }
      // HEAD: the headers of the stream, not the stream (it would never end)
      if (request.method === 'HEAD') return reply.code(200).type('text/event-stream; charset=utf-8').header('cache-control', 'no-cache, no-transform').send();
      await ctx.sse.serve(request, reply, { crossingId, direction, vehicleClass }, lastEventId);
      return reply;
    },
  );
}
