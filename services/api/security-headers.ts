/**
 * Security headers (helmet's set, with a CSP that allows no inline scripts) on every response.
 *
 * @fastify/helmet builds a new helmet middleware - re-parsing the whole configuration - on every request, which
 * cost ~18% of the CPU of a polled `/waits` in the benchmark. The headers do not depend on the request, so they
 * are computed once here by running helmet against a recording response; each route's onRequest hook (access.ts)
 * sets them with one `reply.headers()`. Routes that set their own CSP (Swagger UI at /docs) override it in their handler.
 * JSON API routes get only the headers that matter for JSON (see `createSecurityHeaders`).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import type { CorsPolicy } from './cors.ts';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const DASHBOARD_CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
};

/** The headers helmet would set for these options, computed once. */
export function computeSecurityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
    getHeader: (name: string) => headers[name.toLowerCase()],
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, () => undefined);
  return headers;
}

/**
 * The two header sets, computed once: `document` (helmet's full set with the dashboard CSP) for the dashboard, docs
 * and everything else; `api` for JSON API responses (/v1/...). JSON is never rendered as a document, so CSP, frame
 * and opener policies do nothing for it; `nosniff` (with its application/json type) is what protects it. HSTS is a
 * host-wide policy a browser learns from any HTTPS response of the host (the dashboard and docs send it), and API
 * clients (dispatch systems, apps) do not implement it. Fewer headers per poll is measurable at tens of thousands
 * of polls a second.
 */
export function createSecurityHeaders(): { document: Readonly<Record<string, string>>; api: Readonly<Record<string, string>> } {
  const document = computeSecurityHeaders({
    contentSecurityPolicy: { useDefaults: false, directives: DASHBOARD_CSP_DIRECTIVES },
    crossOriginResourcePolicy: { policy: 'cross-origin' },
  });
  const api = { 'x-content-type-options': 'nosniff' };
  return { document: Object.freeze(document), api: Object.freeze(api) };
}

/**
 * Sets the security and CORS headers of a response with ONE `reply.headers()` call: the merged objects (JSON API or
 * document set x the CORS headers for the request's Origin) are built once and reused.
 */
export type HeaderSetter = (request: FastifyRequest, reply: FastifyReply, isApi: boolean) => void;

export function createHeaderSetter(security: ReturnType<typeof createSecurityHeaders>, cors: CorsPolicy): HeaderSetter {
  const merged = [new Map<object, Readonly<Record<string, string>>>(), new Map<object, Readonly<Record<string, string>>>()];
  return (request, reply, isApi) => {
    const corsHeaders = cors.headersFor(request.headers.origin);
    const cache = merged[isApi ? 1 : 0]!;
    let all = cache.get(corsHeaders);
    if (!all) {
      all = Object.freeze({ ...(isApi ? security.api : security.document), ...corsHeaders });
      cache.set(corsHeaders, all);
    }
    void reply.headers(all);
  };
}
