/** Resolving a crossing and a queue from request parameters, with the API's 404/400 messages. */
import type { Catalogue, Crossing, VehicleClass } from '../../shared/catalogue/index.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { gzipSync } from 'node:zlib';
import { badRequest, HttpError, notFound } from './errors.ts';
import type { QueueReader } from '../../shared/queue-store/api.ts';
import type { CachedBody } from './view.ts';

export function requireCrossing(catalogue: Catalogue, id: string): Crossing {
  const c = catalogue.get(id);
  if (!c) throw notFound(`unknown crossing "${id}" (known: ${catalogue.crossings.map((x) => x.id).join(', ')})`);
  return c;
}

/**
 * Reads computed from the queue store's records (`?asOf=`, history) are incomplete while the estimator rebuilds the
 * store from the event stream (first boot, or Redis lost its data): 503 with Retry-After until it is done, instead of
 * a 200 with numbers that are wrong. (The latest estimates come from the published view and stay served.)
 */
export async function requireRebuiltStore(reader: Pick<QueueReader, 'isInitialised'>): Promise<void> {
  if (await reader.isInitialised()) return;
  throw new HttpError(
    'service_unavailable',
    'the queue store is being rebuilt from the event stream; past estimates and history are incomplete until that finishes (the latest waits are served meanwhile)',
    undefined,
    { 'Retry-After': '30' },
  );
}

/** Throws 400 when the direction or class is not one of the crossing's. */
export function checkQueueFilter(c: Crossing, direction: string | undefined, vehicleClass: VehicleClass | undefined, part: 'query' | 'body' = 'query'): void {
  const details = [];
  if (direction !== undefined && !c.directions.includes(direction)) {
    details.push({ path: `${part}.direction`, message: `"${direction}" is not a direction of ${c.id}; valid: ${c.directions.join(', ')}` });
  }
  if (vehicleClass !== undefined && !c.vehicleClasses.includes(vehicleClass)) {
    details.push({ path: `${part}.vehicleClass`, message: `${c.id} does not serve ${vehicleClass}; valid: ${c.vehicleClasses.join(', ')}` });
  }
  if (details.length) throw badRequest(details.map((d) => d.message).join('; '), details);
}

/** True when the request's If-None-Match matches the ETag (weak comparison, as RFC 9110 requires for GET). */
export function etagMatches(request: FastifyRequest, etag: string): boolean {
  const inm = request.headers['if-none-match'];
  if (!inm) return false;
  if (inm.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === bare);
}

export const CACHE_CONTROL = 'public, max-age=5, stale-while-revalidate=10';

/**
 * CACHE_CONTROL, shortened when a queue in the document turns stale within its 15 s (`validUntil`): a cache must not
 * keep showing a queue as fresh after its staleAt. max-age and stale-while-revalidate then end at the flip.
 */
export function liveCacheControl(validUntil: number | undefined, now: () => number = Date.now): string {
  if (validUntil === undefined || validUntil === Infinity) return CACHE_CONTROL;
  const left = Math.floor((validUntil - now()) / 1000);
  if (left >= 15) return CACHE_CONTROL;
  if (left <= 0) return 'public, max-age=0, must-revalidate';
  return left > 5 ? `public, max-age=5, stale-while-revalidate=${left - 5}` : `public, max-age=${left}`;
}

/** Bodies smaller than this go out as they are: gzip's header and the CPU would buy a few hundred bytes. */
export const GZIP_MIN_BYTES = 1024;
/** Compressed bodies kept, by ETag (the oldest dropped first): every document of the 12 crossings several times over. */
const GZIP_CACHE_ENTRIES = 256;
const gzipped = new Map<string, Buffer>();
/** The usual Vary of a cached document (CORS says Origin on every response, cors.ts), made once. */
const VARY_ORIGIN_ENCODING = 'Origin, Accept-Encoding';

/**
 * True when an Accept-Encoding header accepts gzip (RFC 9110 12.5.3): `gzip` or `x-gzip` with a q-value above 0, or
 * `*` above 0 when gzip is not itself refused with q=0.
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  let star = false;
  for (const part of (Array.isArray(header) ? header.join(',') : header).split(',')) {
    const [coding = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.map((x) => x.trim()).find((x) => x.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const name = coding.trim();
    if (name === 'gzip' || name === 'x-gzip') return q > 0;
    if (name === '*') star = q > 0;
  }
  return star;
}

/**
 * acceptsGzip by header text, remembered: a client sends the same Accept-Encoding on every poll, so a poll of a large
 * document costs a Map lookup instead of a parse. Bounded (cleared when full), like the validators' parse memo.
 */
const ACCEPTS_GZIP_MEMO_ENTRIES = 256;
const acceptsGzipMemo = new Map<string, boolean>();
function acceptsGzipCached(header: string | string[] | undefined): boolean {
  if (header === undefined) return false;
  const key = Array.isArray(header) ? header.join(',') : header;
  let yes = acceptsGzipMemo.get(key);
  if (yes === undefined) {
    if (acceptsGzipMemo.size >= ACCEPTS_GZIP_MEMO_ENTRIES) acceptsGzipMemo.clear();
    yes = acceptsGzip(key);
    acceptsGzipMemo.set(key, yes);
  }
  return yes;
}

/** The ETag of a document's gzip form: a different representation, so a different strong validator. */
export const gzipEtag = (etag: string): string => `${etag.slice(0, -1)}-gz"`;

function gzipOf(etag: string, bytes: Buffer): Buffer {
  let gz = gzipped.get(etag);
  if (gz === undefined) {
    gz = gzipSync(bytes);
    gzipped.set(etag, gz);
    if (gzipped.size > GZIP_CACHE_ENTRIES) gzipped.delete(gzipped.keys().next().value!);
  }
  return gz;
}

/**
 * Sends a precomputed JSON body with its ETag, or 304 when the client already has it. The body goes out as bytes
 * encoded once per cached document: a string body is measured (content-length) and UTF-8 encoded again on every
 * response, which for the 22 kB bulk view was a visible share of a poll's CPU. A client that accepts gzip gets a body
 * of GZIP_MIN_BYTES or more compressed (the bulk view: 22.7 kB -> about 1.2 kB), once per document (kept by ETag), with
 * its own ETag (`gzipEtag`); every answer says `Vary: Accept-Encoding` (beside CORS's Origin) so a shared cache keeps
 * the two forms apart. Cache-Control: `opts.cacheControl`, else CACHE_CONTROL shortened before the document's next
 * stale flip (`liveCacheControl`).
 */
export function sendCached(request: FastifyRequest, reply: FastifyReply, cached: CachedBody, opts: { cacheControl?: string; now?: () => number } = {}): FastifyReply {
  cached.bytes ??= Buffer.from(cached.body, 'utf8');
  const gzip = cached.bytes.length >= GZIP_MIN_BYTES && acceptsGzipCached(request.headers['accept-encoding']);
  const etag = gzip ? gzipEtag(cached.etag) : cached.etag;
  const vary = reply.getHeader('vary');
  void reply
    .header('ETag', etag)
    .header('Cache-Control', opts.cacheControl ?? liveCacheControl(cached.validUntil, opts.now))
    .header('Vary', vary === 'Origin' ? VARY_ORIGIN_ENCODING : typeof vary === 'string' && vary !== '' ? `${vary}, Accept-Encoding` : 'Accept-Encoding');
  if (etagMatches(request, etag)) return reply.code(304).send();
  if (!gzip) return reply.type('application/json; charset=utf-8').send(cached.bytes);
  return reply.type('application/json; charset=utf-8').header('Content-Encoding', 'gzip').send(gzipOf(cached.etag, cached.bytes));
}
