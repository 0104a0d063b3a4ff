/**
 * OpenAPI 3 document (@fastify/swagger) generated from the routes' zod-derived JSON Schemas, served at
 * /openapi.json, and the interactive Swagger UI at /docs (assets bundled with the plugin, works offline) with
 * its own CSP scoped to /docs. Register before the routes so every route is collected.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Kezek API',
        version: '1.0.0',
        description:
          'Live wait times at Central Asian land border crossings. Reads are public unless the deployment sets READ_AUTH=on; ' +
          'writes need `Authorization: Bearer <token>`. Errors are always `{ error, message, details? }`.',
      },
      tags: [
        { name: 'waits', description: 'Current and historical waits' },
        { name: 'crossings', description: 'Crossing catalogue with live status' },
        { name: 'forecast', description: 'Model forecasts (labelled kind: forecast)' },
        { name: 'stream', description: 'Server-Sent Events' },
        { name: 'webhooks', description: 'Webhook subscriptions' },
        { name: 'ingest', description: 'Event ingest for producers and officials' },
        { name: 'ops', description: 'Health and readiness' },
      ],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  app.get('/openapi.json', { config: { access: { kind: 'ops' } }, schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: true,
    // plain-http deployments (and localhost) must not be told to upgrade every asset request
    transformStaticCSP: (header: string) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
    uiConfig: { docExpansion: 'list', deepLinking: true },
  });
}
