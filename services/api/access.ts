/**
 * Access control for every route that declares `config.access` (see auth.ts `Access`): authentication,
 * authorisation and the per-client rate limit, in an onRequest hook so an anonymous or throttled client cannot
 * make us read (or parse) a body.
 *
 * The hook is attached per route when the route is registered (onRoute), with that route's access rule and header
 * set closed over, so a request pays nothing to look them up and runs one hook, not one per concern. It is a
 * callback-style hook that completes synchronously unless the Redis rate limiter has to be asked
 * (RATE_LIMIT_PER_MINUTE > 0): polling stays off the promise machinery.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler } from 'fastify';
import type { Access } from './auth.ts';
import type { AppContext } from './context.ts';
import { HttpError, sendError } from './errors.ts';
import type { HeaderSetter } from './security-headers.ts';

const RATE_WINDOW_MS = 60_000;

/**
 * Registers the onRoute hook that gives every route ONE onRequest hook: the response headers (security + CORS,
 * `setHeaders`), then, for routes with a read/write access rule, authentication, authorisation and the rate limit.
 * Call before the routes are registered. (Requests that match no route get their headers from the 404 handler.)
 */
export function installRequestHooks(app: FastifyInstance, ctx: AppContext, setHeaders: HeaderSetter): void {
  app.addHook('onRoute', (route) => {
    const isApi = route.url.startsWith('/v1/');
    const access = route.config?.access;
    const hook: onRequestHookHandler =
      !access || access.kind === 'ops'
        ? function headersOnly(request, reply, done) {
            setHeaders(request, reply, isApi);
            done();
          }
        : accessHook(ctx, access, setHeaders, isApi);
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [hook, ...existing];
  });
}

function accessHook(ctx: AppContext, access: Exclude<Access, { kind: 'ops' }>, setHeaders: HeaderSetter, isApi: boolean): onRequestHookHandler {
  const { config } = ctx;
  const readAuth = config.READ_AUTH === 'on';
  const scope = access.kind === 'write' ? 'write' : 'read';
  const limit = scope === 'write' ? config.WRITE_RATE_LIMIT_PER_MINUTE : config.RATE_LIMIT_PER_MINUTE;

  async function rateLimit(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const clientId = request.principal?.clientId ?? `ip_${request.ip}`;
    let res;
    try {
      res = await ctx.store.rateLimitHit(scope, clientId, limit, RATE_WINDOW_MS);
    } catch (err) {
      // fail open: a Redis hiccup must not turn every request into an error
      request.log.warn({ err: { message: (err as Error).message } }, 'rate limiter unavailable; allowing request');
      return true;
    }
    const resetS = Math.ceil(res.resetMs / 1000);
    void reply.header('RateLimit-Limit', String(limit)).header('RateLimit-Remaining', String(res.remaining)).header('RateLimit-Reset', String(resetS));
    if (res.allowed) return true;
    sendError(reply, new HttpError('too_many_requests', `rate limit of ${limit} ${scope} requests per minute exceeded; retry in ${resetS}s`, undefined, { 'Retry-After': String(resetS) }));
    return false;
  }

  return function checkAccess(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
    setHeaders(request, reply, isApi);
    try {
      request.principal = ctx.auth.identify(request.headers.authorization);
      ctx.auth.authorise(access, request.principal, readAuth);
    } catch (err) {
      done(err as Error);
      return;
    }
    if (limit <= 0) {
      done();
      return;
    }
    // a throttled request has been answered here: the lifecycle must not go on (no done())
    rateLimit(request, reply).then((go) => (go ? done() : undefined), (err: unknown) => done(err as Error));
  };
}
