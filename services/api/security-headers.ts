/**
 * Security headers (helmet's set, with a CSP that allows no inline scripts) on every response.
 *
 * @fastify/helmet builds a new helmet middleware - re-parsing the whole configuration - on every request, which
 * cost ~18% of the CPU of a polled `/waits` in the benchmark. The headers do not depend on the request, so they
 * are computed once here by running helmet against a recording response, then set with one `reply.headers()`.
 * Routes that set their own CSP (Swagger UI at /docs) override it in their handler, as before. JSON API routes get
 * only the headers that matter for JSON (see below).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
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

export const securityHeaders = fp(
  async (app: FastifyInstance) => {
    const headers = computeSecurityHeaders({
      contentSecurityPolicy: { useDefaults: false, directives: DASHBOARD_CSP_DIRECTIVES },
      crossOriginResourcePolicy: { policy: 'cross-origin' },
    });
    // JSON API responses (/v1/...) are never rendered as documents, so CSP, frame and opener policies do nothing
    // for them; `nosniff` (with their application/json type) is what protects them. The full set goes on the
    // dashboard, docs and everything else. Fewer headers per poll is measurable at tens of thousands of polls a second.
    const apiHeaders = { 'x-content-type-options': 'nosniff', 'strict-transport-security': headers['strict-transport-security'] ?? 'max-age=31536000; includeSubDomains' };
    app.addHook('onRequest', async (req, reply) => {
      void reply.headers(req.url.startsWith('/v1/') ? apiHeaders : headers);
    });
  },
  { name: 'kezek-security-headers' },
);
