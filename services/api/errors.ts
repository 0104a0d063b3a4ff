/**
 * The API's one error shape, `{ error, message, details? }`, and the handlers that produce it for every
 * failure: our own HttpErrors, fastify's framework errors (413, 415, bad JSON), unknown routes (404), known
 * paths with the wrong method (405), and what Node's HTTP parser refuses before there is a request (431, 400,
 * 408). 5xx bodies never carry internals.
 */
import { STATUS_CODES, maxHeaderSize as nodeMaxHeaderSize, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderSetter } from './security-headers.ts';
import type { ConnectionError, FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_acceptable'
  | 'request_timeout'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'too_many_requests'
  | 'headers_too_large'
  | 'service_unavailable'
  | 'internal_error';

export interface ErrorDetail {
  path: string;
  message: string;
  index?: number;
}

export interface ErrorBody {
  error: ErrorCode;
  message: string;
  details?: ErrorDetail[];
}

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_acceptable: 406,
  request_timeout: 408,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  headers_too_large: 431,
  service_unavailable: 503,
  internal_error: 500,
};

/** An error meant for the client: its code, message and details are shown as they are. */
export class HttpError extends Error {
  readonly statusCode: number;
  constructor(
    readonly error: ErrorCode,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.statusCode = STATUS[error];
  }
  toBody(): ErrorBody {
    return this.details ? { error: this.error, message: this.message, details: this.details } : { error: this.error, message: this.message };
  }
}

export const badRequest = (message: string, details?: ErrorDetail[]) => new HttpError('bad_request', message, details);
export const notFound = (message: string) => new HttpError('not_found', message);

/** Maps fastify's own 4xx errors (by code) to our codes; anything else 4xx becomes bad_request. */
function fromFrameworkError(err: FastifyError, bodyLimit?: number): HttpError | undefined {
  const status = err.statusCode ?? 500;
  const tooLarge = `request body is too large${bodyLimit ? ` (at most ${bodyLimit >= 1024 * 1024 && bodyLimit % (1024 * 1024) === 0 ? `${bodyLimit / (1024 * 1024)} MiB` : `${bodyLimit} bytes`})` : ''}`;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError('payload_too_large', tooLarge);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new HttpError('unsupported_media_type', 'unsupported Content-Type; send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return badRequest('request body is empty; send JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('request body is not valid JSON');
  }
  if (err instanceof SyntaxError || /JSON/.test(err.code ?? '')) return badRequest('request body is not valid JSON');
  if (status === 413) return new HttpError('payload_too_large', tooLarge);
  if (status === 415) return new HttpError('unsupported_media_type', 'unsupported Content-Type; send application/json');
  if (status >= 400 && status < 500) return badRequest(err.message);
  return undefined;
}

export function sendError(reply: FastifyReply, err: HttpError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  if (err.error === 'unauthorized' && !reply.hasHeader('www-authenticate')) void reply.header('WWW-Authenticate', 'Bearer realm="kezek"');
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(err.toBody());
}

interface KnownRoute {
  method: string;
  re: RegExp;
}

/** The methods the API answers on a concrete path (HEAD with every GET; OPTIONS not included); [] = no such path. */
export type AllowedMethods = (path: string) => string[];

/**
 * Registers the error handler, the 404 handler and 405 detection. Call before routes are registered. `setHeaders`
 * gives a request that matched no route the same security/CORS headers as the routes' own hook does. Returns the
 * lookup of the methods each path answers (for the 405's Allow, and a plain OPTIONS).
 */
export function installErrorHandling(app: FastifyInstance, setHeaders: HeaderSetter): AllowedMethods {
  const known: KnownRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const pattern = route.url
      .split('/')
      .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg === '*' ? '.*' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    for (const m of methods) known.push({ method: m.toUpperCase(), re: new RegExp(`^${pattern}/?$`) });
  });

  const allowedOn: AllowedMethods = (path) => {
    const routed = [...new Set(known.filter((r) => r.re.test(path)).map((r) => r.method))].filter((m) => m !== 'HEAD' && m !== 'OPTIONS');
    // every GET answers HEAD too (fastify's exposeHeadRoutes)
    return routed.includes('GET') ? [...routed, 'HEAD'] : routed;
  };

  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof HttpError) return sendError(reply, err);
    const mapped = fromFrameworkError(err, request.routeOptions?.bodyLimit);
    if (mapped) return sendError(reply, mapped);
    request.log.error({ err }, 'unhandled error');
    return sendError(reply, new HttpError('internal_error', 'internal server error'));
  });

  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] ?? '/';
    setHeaders(request, reply, path.startsWith('/v1/'));
    const allowed = allowedOn(path);
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      // every path also answers OPTIONS (cors.ts), so the Allow header names it too (RFC 9110 §10.2.1)
      const allow = [...allowed, 'OPTIONS'].join(', ');
      return sendError(reply, new HttpError('method_not_allowed', `${request.method} is not allowed on ${path} (allowed: ${allow})`, undefined, { Allow: allow }));
    }
    return sendError(reply, notFound(`no route ${request.method} ${path}`));
  });
  return allowedOn;
}

/** What Node's HTTP parser refused, as the API's error (the parser's reason is a fixed text, never the client's bytes). */
function fromClientError(err: ConnectionError, maxHeaderSize: number): HttpError {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return new HttpError('headers_too_large', `request line and headers exceed the server's limit of ${maxHeaderSize} bytes (shorten the URL or the headers)`);
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HttpError('request_timeout', 'the request did not arrive in time');
  }
  const reason = (err as { reason?: unknown }).reason;
  return badRequest(`the request is not valid HTTP/1.1 (${typeof reason === 'string' ? reason : err.code})`);
}

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses before there is a request or a reply (request
 * line and headers over `maxHeaderSize`, bytes that are not HTTP, headers that took too long) is answered in the
 * API's error shape written straight to the socket, with `Connection: close`, and the connection is closed (the
 * parser cannot go on). As fastify's default handler: nothing for a reset or destroyed socket, nothing written to a
 * socket that is not writable; as Node's own: nothing written over a response already on the wire (a pipelined
 * request after a stream), it would corrupt it. Logged at debug with the code and reason only: the raw bytes the
 * error carries may hold credentials. `maxHeaderSize` is Node's (16 KiB unless --max-http-header-size): the app does
 * not set its own.
 */
export function createClientErrorHandler(log: FastifyBaseLogger, maxHeaderSize: number = nodeMaxHeaderSize): (err: ConnectionError, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const answer = fromClientError(err, maxHeaderSize);
    log.debug({ err: { code: err.code, message: err.message } }, `client error: ${answer.statusCode} ${answer.error}`);
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const body = JSON.stringify(answer.toBody());
      socket.write(
        `HTTP/1.1 ${answer.statusCode} ${STATUS_CODES[answer.statusCode] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nVary: Origin\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  };
}
