/**
 * Builds the Kezek API from injected dependencies (config, catalogue, NATS, Redis, a QueueReader, a logger).
 * No side effects at import; `main.ts` wires real clients, tests pass their own and use `app.inject`.
 * Everything the app opens (estimates view, webhook worker, SSE clients) is closed in onClose; the injected
 * clients belong to the caller.
 */
import Fastify, { errorCodes, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type onRequestHookHandler, type preParsingHookHandler } from 'fastify';
import secureJsonParse from 'secure-json-parse';
import { createHeaderSetter, createSecurityHeaders } from './security-headers.ts';
import { corsPreflightRoutes, createCorsPolicy } from './cors.ts';
import { installRequestHooks } from './access.ts';
import { ApiLogController, lazyChildLogger } from './request-log.ts';
import { jetstream } from '@nats-io/jetstream';
import { subjects } from '../../shared/events/subjects.ts';
import { createApiStore } from '../../shared/api-store/store.ts';
import { createAuthenticator } from './auth.ts';
import type { AppContext, AppDeps } from './context.ts';
import type { Config } from '../../shared/config.ts';
import { HttpError, badRequest, createClientErrorHandler, installErrorHandling, sendError } from './errors.ts';
import { formatZodPath, installZodValidation } from './validation.ts';
import { registerDocs } from './docs.ts';
import { createEstimatesView } from './view.ts';
import { createSseHub } from './sse.ts';
import { streamRoutes } from './routes/stream.ts';
import { subscriptionRoutes } from './routes/subscriptions.ts';
import { createWebhookWorker } from './webhooks.ts';
import { healthRoutes } from './routes/health.ts';
import { eventsRoutes, INGEST_BODY_LIMIT } from './routes/events.ts';
import { crossingRoutes } from './routes/crossings.ts';
import { waitsRoutes } from './routes/waits.ts';
import { historyRoutes } from './routes/history.ts';
import { forecastRoutes } from './routes/forecast.ts';
import { dashboardRoutes } from './routes/dashboard.ts';

export type { AppDeps, AppContext } from './context.ts';

/**
 * Fastify's `trustProxy` from TRUST_PROXY (shared/config.ts): false when unset; the proxies' addresses / CIDRs; or a
 * hop count, as a function trusting the nearest `hops` proxies (Fastify's typings take no number).
 */
function trustProxyOption(t: Config['TRUST_PROXY']): false | string[] | ((address: string, hop: number) => boolean) {
  if (t === false || Array.isArray(t)) return t;
  return (_address, hop) => hop < t;
}

/**
 * Where a JSON value holds a key secure-json-parse refuses (`__proto__`, or `constructor` holding a `prototype`):
 * the key and its path, breadth first as the parser scans, or undefined. Iterative: bodies may nest thousands deep.
 */
function findForbiddenKey(root: unknown): { key: string; path: (string | number)[] } | undefined {
  interface Node { value: object; key?: string | number; parent?: Node }
  const pathOf = (n: Node | undefined, tail: string[]): (string | number)[] => {
    const up: (string | number)[] = [];
    for (let at = n; at?.key !== undefined; at = at.parent) up.push(at.key);
    return [...up.reverse(), ...tail];
  };
  let level: Node[] = root !== null && typeof root === 'object' ? [{ value: root }] : [];
  while (level.length > 0) {
    const next: Node[] = [];
    for (const node of level) {
      const v = node.value as Record<string, unknown>;
      if (Object.hasOwn(v, '__proto__')) return { key: '__proto__', path: pathOf(node, ['__proto__']) };
      const ctor = Object.hasOwn(v, 'constructor') ? v.constructor : undefined;
      if (ctor !== null && typeof ctor === 'object' && Object.hasOwn(ctor, 'prototype')) return { key: 'constructor.prototype', path: pathOf(node, ['constructor', 'prototype']) };
      const isArray = Array.isArray(v);
      for (const k of Object.keys(v)) {
        const child = v[k];
        if (child !== null && typeof child === 'object') next.push({ value: child, key: isArray ? Number(k) : k, parent: node });
      }
    }
    level = next;
  }
  return undefined;
}

/**
 * The application/json parser, in place of fastify's default (same body limit, same 400s for an empty body and for
 * text that is not JSON, same secure-json-parse refusal of prototype keys). Fastify's parser answers a body with a
 * `__proto__` or `constructor.prototype` key "not valid JSON" (it drops the parser's error): it is valid JSON we
 * refuse for safety, and the 400 says so and where.
 */
function parseJsonBody(_request: FastifyRequest, body: string, done: (err: Error | null, body?: unknown) => void): void {
  if (body.length === 0) return done(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), undefined);
  let parsed: unknown;
  try {
    parsed = secureJsonParse(body, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    // refused: either not JSON at all, or JSON holding a forbidden key (secure-json-parse throws a SyntaxError for
    // both); parse again without the check to tell them apart (only bodies that are refused pay for it)
    let plain: unknown;
    try {
      plain = JSON.parse(body.charCodeAt(0) === 0xfeff ? body.slice(1) : body);
    } catch {
      return done(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY(), undefined);
    }
    const found = findForbiddenKey(plain);
    const path = found && found.path.length > 20 ? ['…', ...found.path.slice(-20)] : found?.path;
    return done(
      found
        ? badRequest(`request body contains a forbidden key "${found.key}" (prototype pollution protection)`, [{ path: formatZodPath(['body', ...(path ?? [])]), message: 'forbidden key' }])
        : badRequest('request body contains a forbidden key (prototype pollution protection)'),
      undefined,
    );
  }
  done(null, parsed);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config, logger } = deps;
  const log = logger;
  // No fallback key (there was a public built-in one): its pseudonyms could be brute-forced and matched no other
  // producer's. main.ts refuses to start without PSEUDONYM_KEY (exit 2); tests and benchmarks pass their own key.
  const pseudonymKey = config.PSEUDONYM_KEY;
  if (!pseudonymKey) throw new Error('buildApp: config.PSEUDONYM_KEY is required (the key vehicle refs posted to /v1/events are pseudonymised with)');

  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: INGEST_BODY_LIMIT,
    trustProxy: trustProxyOption(config.TRUST_PROXY),
    routerOptions: { ignoreTrailingSlash: true },
    // access log policy (request-log.ts): errors and writes at info, successful reads at debug
    logController: new ApiLogController(),
    childLoggerFactory: lazyChildLogger,
    // errors the router raises before any route or error handler runs: the same error shape, no URL echoed back
    frameworkErrors: (err, _request, reply) =>
      sendError(reply, badRequest(err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'a path parameter is too long' : 'the URL path is not valid (bad percent-encoding?)')),
    // what Node's HTTP parser refuses before there is a request (headers over 16 KiB: 431, not HTTP: 400), same shape
    clientErrorHandler: createClientErrorHandler(log as FastifyBaseLogger),
  });
  // before any plugin is registered, so every route inherits it; the body limit is the instance's (1 MiB)
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJsonBody);

  const view = createEstimatesView({ nc: deps.nc, reader: deps.reader, catalogue: deps.catalogue, prefix: config.KEZEK_PREFIX, staleAfterSeconds: config.STALE_AFTER_SECONDS, logger: log, now: deps.now });
  const store = createApiStore({ redis: deps.redis, prefix: config.KEZEK_PREFIX });
  const ctx: AppContext = {
    config,
    catalogue: deps.catalogue,
    nc: deps.nc,
    redis: deps.redis,
    reader: deps.reader,
    logger: log,
    now: deps.now ?? Date.now,
    js: jetstream(deps.nc),
    subjects: subjects(config.KEZEK_PREFIX),
    view,
    store,
    auth: createAuthenticator(config.API_TOKENS),
    pseudonymKey,
    sse: createSseHub({ nc: deps.nc, view, subjects: subjects(config.KEZEK_PREFIX), logger: log, options: deps.sse }),
    webhooks: deps.deliverWebhooks === false ? undefined : createWebhookWorker({ view, store, logger: log, options: { allowPrivateTargets: config.WEBHOOK_PRIVATE_TARGETS === 'on', ...deps.webhooks }, now: deps.now }),
  };

  app.decorate('kezek', ctx);
  // Security and CORS headers depend on nothing but the route's kind and the Origin: computed once, set by each
  // route's single onRequest hook (installRequestHooks), which also does access control (auth, roles, rate limit).
  const cors = createCorsPolicy(config.CORS_ORIGINS);
  const setHeaders = createHeaderSetter(createSecurityHeaders(), cors);
  const allowedOn = installErrorHandling(app, setHeaders);
  installZodValidation(app);

  app.decorateRequest('principal', undefined);
  installRequestHooks(app, ctx, setHeaders);
  // Body handling by method, on the routes it concerns only (polling pays nothing for it). A compressed body would be
  // parsed as if it were JSON (a 400 "not valid JSON"): say what is not supported.
  const refuseEncodedBody: preParsingHookHandler = (request, _reply, payload, done) => {
    const coding = request.headers['content-encoding'];
    if (coding !== undefined && coding.trim().toLowerCase() !== 'identity') {
      done(new HttpError('unsupported_media_type', `Content-Encoding ${JSON.stringify(coding)} is not supported: send the body uncompressed`));
      return;
    }
    done(null, payload);
  };
  // A DELETE has no body, but many clients send Content-Type: application/json on every request: with no body to
  // parse, that header is dropped instead of answering 400 "body is empty".
  const ignoreTypeOfNoBody: onRequestHookHandler = (request, _reply, done) => {
    if (request.headers['transfer-encoding'] === undefined && (request.headers['content-length'] ?? '0') === '0') delete request.headers['content-type'];
    done();
  };
  app.addHook('onRoute', (route) => {
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => String(m).toUpperCase());
    if (methods.some((m) => ['POST', 'PUT', 'PATCH'].includes(m))) {
      const existing = route.preParsing === undefined ? [] : Array.isArray(route.preParsing) ? route.preParsing : [route.preParsing];
      route.preParsing = [refuseEncodedBody, ...existing];
    }
    if (methods.includes('DELETE')) {
      const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [...existing, ignoreTypeOfNoBody];
    }
  });

  await registerDocs(app);
  const opts = { ctx };
  await app.register(corsPreflightRoutes, { policy: cors, allowedOn });
  await app.register(healthRoutes, opts);
  await app.register(eventsRoutes, opts);
  await app.register(crossingRoutes, opts);
  await app.register(waitsRoutes, opts);
  await app.register(historyRoutes, opts);
  await app.register(forecastRoutes, opts);
  await app.register(streamRoutes, opts);
  await app.register(subscriptionRoutes, opts);
  // last, at '/': the dashboard's static files must not shadow API routes
  await app.register(dashboardRoutes, { catalogue: deps.catalogue, config });

  ctx.webhooks?.start();
  await view.start();
  // SSE responses are long-lived: end them before the server waits for open connections to finish
  app.addHook('preClose', async () => {
    await ctx.sse.close();
  });
  app.addHook('onClose', async () => {
    await ctx.webhooks?.close();
    await view.close();
  });
  return app;
}
