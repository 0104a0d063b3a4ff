/**
 * OpenAPI 3 document (@fastify/swagger) generated from the routes' zod-derived JSON Schemas, served at
 * /openapi.json, and the interactive Swagger UI at /docs (assets bundled with the plugin, works offline) with
 * its own CSP scoped to /docs. Register before the routes so every route is collected.
 */
import type { FastifyInstance } from 'fastify';
import { maxHeaderSize } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Access } from './auth.ts';
import { ErrorBodySchema } from './schemas.ts';
import { docSchema, type JsonSchema } from './validation.ts';

const errorDoc = (description: string, headers?: Record<string, { description: string; schema: { type: string } }>) => ({ ...docSchema(ErrorBodySchema), description, ...(headers ? { headers } : {}) });
const RETRY_AFTER = { 'Retry-After': { description: 'seconds until the client may try again', schema: { type: 'string' } } };

/**
 * The error answers every route of an access kind can give, which its own schema need not repeat (errors.ts,
 * auth.ts, access.ts): 401 for an invalid token (and a missing one where a token is required), 403 for a role that
 * may not, 429 past the rate limit, 413 / 415 for a body too large or not JSON. Documentation only: responses are
 * serialised with JSON.stringify (validation.ts), so adding them changes no answer.
 */
export function commonErrorResponses(access: Access | undefined, method: string): Record<string, JsonSchema> {
  if (!access || access.kind === 'ops') return {};
  const out: Record<string, JsonSchema> = {
    401: errorDoc(
      access.kind === 'write' || 'roles' in access
        ? 'No token, an invalid token, or an Authorization header that is not "Bearer <token>"'
        : 'An invalid token, or no token when the deployment sets READ_AUTH=on',
    ),
  };
  if (access.kind === 'write' || 'roles' in access) out[403] = errorDoc("The token's role may not do this (the message names the roles that may)");
  out[429] = errorDoc(`More than the ${access.kind === 'write' ? 'WRITE_' : ''}RATE_LIMIT_PER_MINUTE requests in a minute (per token, or per IP when anonymous)`, RETRY_AFTER);
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    out[413] = errorDoc('The request body is larger than the route accepts');
    out[415] = errorDoc('The body is not application/json');
  }
  return out;
}

/**
 * OpenAPI 3.0's `nullable: true` does not extend an `enum` (3.0.3: other keywords "retain their defined behavior"), and
 * @fastify/swagger turns zod's `anyOf: [{ enum }, { type: 'null' }]` into `{ enum, nullable: true }`, which refuses
 * the null our responses carry (a queue's `method` before any estimate, a history point's `status`). null is added to
 * such enums, in place, everywhere in the document.
 */
export function allowNullInNullableEnums(node: unknown): void {
  if (Array.isArray(node)) {
    for (const n of node) allowNullInNullableEnums(n);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  if (o.nullable === true && Array.isArray(o.enum) && !o.enum.includes(null)) o.enum = [...(o.enum as unknown[]), null];
  for (const [k, v] of Object.entries(o)) if (k !== 'example' && k !== 'examples' && k !== 'enum') allowNullInNullableEnums(v);
}

export async function registerDocs(app: FastifyInstance): Promise<void> {
  // before the swagger plugin collects the routes; a status the route documents itself is kept as it is
  app.addHook('onRoute', (route) => {
    if (!route.schema || route.schema.hide) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const common = commonErrorResponses(route.config?.access, String(methods[0]).toUpperCase());
    if (Object.keys(common).length === 0) return;
    route.schema = { ...route.schema, response: { ...common, ...(route.schema.response as Record<string, unknown> | undefined) } };
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Kezek API',
        version: '1.0.0',
        description:
          'Live wait times at Central Asian land border crossings. Reads are public unless the deployment sets READ_AUTH=on; ' +
          'writes need `Authorization: Bearer <token>`. Errors are always `{ error, message, details? }`. A JSON body with a `__proto__` ' +
          'or `constructor.prototype` key is refused for safety with `400 bad_request` naming the key. On any route, a request line and ' +
          `headers over ${maxHeaderSize / 1024} KiB get \`431 headers_too_large\` and a request that is not valid HTTP/1.1 \`400 bad_request\` ` +
          '(both with `Connection: close`).',
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
    transformObject: (doc) => {
      const openapi = 'openapiObject' in doc ? doc.openapiObject : doc.swaggerObject;
      allowNullInNullableEnums(openapi);
      return openapi;
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
