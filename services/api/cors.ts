/**
 * CORS for browser clients of the API (CORS_ORIGINS: `*` or a comma-separated list of origins).
 *
 * CORS headers only matter to a browser's cross-origin request, which always carries an Origin header, so they are
 * sent only then: a dispatch system or app polling without Origin gets none (about 130 bytes less per poll). Every
 * response says `Vary: Origin`, so a shared cache never serves a response without them to a browser. With `*` an
 * Origin gets `*`; with a list, an allowed Origin is echoed and any other gets no allow-origin. The header objects
 * are computed once and set by the API's single onRequest hook per route (access.ts) with the security headers.
 * Preflights (OPTIONS with Access-Control-Request-Method) are answered by `corsPreflightRoutes` with 204, or 403
 * for an origin that is not allowed.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError, notFound, type AllowedMethods } from './errors.ts';

const CORS_METHODS = 'GET, HEAD, POST, DELETE, OPTIONS';
const CORS_ALLOWED_HEADERS = 'Authorization, Content-Type, If-None-Match, Last-Event-ID';
const CORS_EXPOSED_HEADERS = 'ETag, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Location';
const CORS_MAX_AGE_SECONDS = 600;

export interface CorsPolicy {
  /** The CORS headers of an actual (non-preflight) response to a request with this Origin header (or none). */
  headersFor(origin: string | undefined): Readonly<Record<string, string>>;
  /** Headers of a successful preflight response, or undefined when the origin is not allowed. */
  preflight(origin: string | undefined): Record<string, string> | undefined;
}

export function createCorsPolicy(originsCsv: string): CorsPolicy {
  const origins = originsCsv.split(',').map((o) => o.trim()).filter(Boolean);
  const anyOrigin = origins.includes('*');
  const star = Object.freeze({ 'access-control-allow-origin': '*', 'access-control-expose-headers': CORS_EXPOSED_HEADERS, vary: 'Origin' });
  const varyOnly = Object.freeze({ vary: 'Origin' });
  const perOrigin = new Map<string, Readonly<Record<string, string>>>(
    origins.map((o) => [o, Object.freeze({ 'access-control-allow-origin': o, 'access-control-expose-headers': CORS_EXPOSED_HEADERS, vary: 'Origin' })]),
  );
  const preflightCommon = {
    'access-control-allow-methods': CORS_METHODS,
    'access-control-allow-headers': CORS_ALLOWED_HEADERS,
    'access-control-max-age': String(CORS_MAX_AGE_SECONDS),
    vary: 'Origin',
  };
  return {
    headersFor(origin) {
      if (origin === undefined) return varyOnly;
      if (anyOrigin) return star;
      return perOrigin.get(origin) ?? varyOnly;
    },
    preflight(origin) {
      if (anyOrigin) return { ...preflightCommon, 'access-control-allow-origin': '*' };
      if (origin === undefined || !perOrigin.has(origin)) return undefined;
      return { ...preflightCommon, 'access-control-allow-origin': origin };
    },
  };
}

/**
 * OPTIONS on any path: CORS preflight, or (without Access-Control-Request-Method) the methods that path answers, 404
 * for a path the API does not have. Hidden from the OpenAPI document.
 */
export async function corsPreflightRoutes(app: FastifyInstance, { policy, allowedOn }: { policy: CorsPolicy; allowedOn: AllowedMethods }): Promise<void> {
  app.options('/*', { schema: { hide: true } as never, config: { access: { kind: 'ops' } } }, async (request, reply) => {
    const origin = request.headers.origin;
    if (request.headers['access-control-request-method'] === undefined) {
      const path = request.url.split('?')[0] ?? '/';
      const allowed = allowedOn(path);
      if (allowed.length === 0) throw notFound(`no route OPTIONS ${path}`);
      return reply.code(204).header('allow', [...allowed, 'OPTIONS'].join(', ')).send();
    }
    const headers = policy.preflight(origin);
    if (!headers) throw new HttpError('forbidden', `origin ${origin ?? '(none)'} is not allowed (CORS_ORIGINS)`);
    return reply.code(204).headers(headers).send();
  });
}
