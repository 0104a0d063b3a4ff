/**
 * POST /v1/events: the ingest gateway. All-or-nothing: every event of a batch is validated against the
 * contract and the catalogue before anything is published; then vehicle refs are pseudonymised and the events are
 * published to JetStream, and the reply waits for every ack. The events of a batch are grouped by subject (crossing
 * and direction, in their order) into messages of at most MAX_EVENTS_PER_MESSAGE events: a group of one is published
 * as the event itself with msgID = eventId, a larger one as a JSON array with msgID = `batch:` + the SHA-512 of its
 * eventIds (134 characters: never an eventId, which has at most 128). An identical re-sent request is thus
 * de-duplicated by the broker; the estimator applies each eventId once in any case. An eventId repeated within one
 * request is published once and counted as a duplicate when the repeat is the same event (instants compared as
 * instants), and refuses the batch (400, `eventId` of the repeat) when its content differs.
 * Per message, not per event, is where nats-server, the gateway and the estimator spend most of their work.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { KezekEventSchema, MAX_EVENTS_PER_MESSAGE, subjectForEvent, validateEvent, type EventType, type KezekEvent, type Subjects } from '../../../shared/events/index.ts';
import { STORE_DEFAULTS } from '../../../shared/queue-store/store.ts';
import { pseudonymise as pseudonymiseRef, pseudonymiseEvent } from '../../../shared/privacy.ts';
import type { RouteOpts } from '../context.ts';
import { HttpError, badRequest, type ErrorDetail } from '../errors.ts';
import { docRequestSchema, docSchema } from '../validation.ts';
import { ErrorBodySchema, IngestResponseSchema } from '../schemas.ts';

export const MAX_BATCH = 1000;
export const INGEST_BODY_LIMIT = 1024 * 1024;
const PUBLISH_CONCURRENCY = 128;
/** The UTF-8 size of JSON at which a message is cut before MAX_EVENTS_PER_MESSAGE events (NATS max_payload is 1 MiB). */
const PUBLISH_CHUNK_BYTES = 256 * 1024;
const PUBLISH_TIMEOUT_MS = 5000;
/** 100 ms, 200 ms, 400 ms ... capped at 2 s. */
const TOO_OLD = `is older than the ${STORE_DEFAULTS.retentionMs / (24 * 3600_000)}-day retention of the queue store: it can no longer change any estimate`;
const retryDelayMs = (attempt: number): number => Math.min(2000, 100 * 2 ** attempt);
const OFFICIAL_TYPES: readonly EventType[] = ['lanes.changed', 'crossing.status'];

const example = {
  eventId: 'korday-cam1-000123',
  type: 'vehicle.arrived',
  crossingId: 'korday',
  direction: 'KZ-KG',
  vehicleClass: 'truck',
  occurredAt: '2026-11-22T08:15:00+05:00',
  vehicleRef: '01KZ123ABC',
  source: 'cam-1',
};

export async function eventsRoutes(app: FastifyInstance, { ctx }: RouteOpts): Promise<void> {
  const log = ctx.logger.child({ component: 'ingest' });

  app.post(
    '/v1/events',
    {
      bodyLimit: INGEST_BODY_LIMIT,
      config: { access: { kind: 'write', roles: ['producer', 'official'] } },
      schema: {
        tags: ['ingest'],
        summary: 'Ingest one event or a batch (all-or-nothing)',
        description:
          'Roles producer, official (lanes.changed and crossing.status only) or admin. Up to 1000 events, 1 MiB. ' +
          'Each event is applied once per eventId (re-sending is safe). 202 after every event is durably in the stream; ' +
          '`accepted + duplicates` = events sent; `duplicates` counts the events the stream already held from an identical ' +
          'earlier request (a retry of the same batch unchanged) and repeats of an event within the request (a repeated eventId with ' +
          'different content refuses the batch with 400); an event ' +
          're-sent in a different batch may count as accepted, and is still applied once.',
        security: [{ bearer: [] }],
        body: docRequestSchema(z.union([KezekEventSchema, z.array(KezekEventSchema).max(MAX_BATCH)]), { examples: [example, [example]] }),
        response: {
          202: docSchema(IngestResponseSchema, { examples: [{ accepted: 1, duplicates: 0 }] }),
          400: docSchema(ErrorBodySchema, { examples: [{ error: 'bad_request', message: '1 of 2 events is invalid; nothing was accepted', details: [{ index: 1, path: 'occurredAt', message: 'must include a UTC offset or Z: a local time without offset is ambiguous' }] }] }),
          503: docSchema(ErrorBodySchema),
        },
      },
      preValidation: async (request) => {
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/json') throw new HttpError('unsupported_media_type', 'send the events as application/json');
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (body === undefined || body === null || (typeof body !== 'object')) throw badRequest('body must be one event object or an array of events');
      const isBatch = Array.isArray(body);
      const items: unknown[] = isBatch ? body : [body];
      if (items.length === 0) throw badRequest('the batch is empty');
      if (items.length > MAX_BATCH) throw badRequest(`a batch holds at most ${MAX_BATCH} events (got ${items.length})`);

      const now = ctx.now();
      const events: KezekEvent[] = [];
      const details: ErrorDetail[] = [];
      let invalid = 0;
      // an event older than the store's retention would be dead-lettered (too_late) after a 202: the producer hears it now
      const valid = { catalogue: ctx.catalogue, now, oldestMs: now - STORE_DEFAULTS.retentionMs, tooOldReason: TOO_OLD };
      items.forEach((item, index) => {
        const res = validateEvent(item, valid);
        if (res.ok) events.push(res.event);
        else {
          invalid++;
          for (const issue of res.issues) details.push({ index, path: issue.path, message: issue.message });
        }
      });
      if (invalid > 0) {
        const msg = isBatch ? `${invalid} of ${items.length} events are invalid; nothing was accepted` : 'the event is invalid; nothing was accepted';
        throw badRequest(msg, details.slice(0, 1000));
      }
      if (request.principal?.role === 'official') {
        const denied = events.flatMap((ev, index) => (OFFICIAL_TYPES.includes(ev.type) ? [] : [{ index, path: 'type', message: `officials may post only ${OFFICIAL_TYPES.join(' and ')}` }]));
        if (denied.length) throw new HttpError('forbidden', 'officials may post only lanes.changed and crossing.status events; nothing was accepted', denied);
      }
      // an eventId names one event: a repeat within the request is the same event sent twice (published once, counted
      // as a duplicate), unless its content differs, which is a producer bug the whole batch is refused for
      const firstIndex = new Map<string, number>();
      const conflicts: ErrorDetail[] = [];
      events.forEach((ev, index) => {
        const first = firstIndex.get(ev.eventId);
        if (first === undefined) firstIndex.set(ev.eventId, index);
        else if (!sameEvent(events[first]!, ev, ctx.pseudonymKey)) conflicts.push({ index, path: 'eventId', message: `repeats the eventId of event ${first} with different content (an eventId names one event)` });
      });
      if (conflicts.length > 0) {
        throw badRequest(`${conflicts.length} event${conflicts.length === 1 ? ' repeats an eventId' : 's repeat eventIds'} of the batch with different content; nothing was accepted`, conflicts.slice(0, 1000));
      }

      if (ctx.nc.isClosed()) throw unavailable('the event broker connection is closed');
      // The gateway rides out short broker outages (a restart, a failover): each publish is retried with the SAME
      // msgID (JetStream de-duplicates) with backoff until INGEST_RETRY_SECONDS have passed. 202 still means every
      // event was acknowledged by JetStream; only a longer outage gives 503 and the client re-sends the batch.
      const deadline = Date.now() + ctx.config.INGEST_RETRY_SECONDS * 1000;
      let duplicates = 0;
      let retries = 0;
      const publishOne = async (msg: Outgoing): Promise<boolean> => {
        for (let attempt = 0; ; attempt++) {
          try {
            const ack = await ctx.js.publish(msg.subject, msg.data, { msgID: msg.msgID, timeout: PUBLISH_TIMEOUT_MS });
            // a retry whose first attempt was stored reports duplicate: only first attempts count as re-sent events
            return attempt === 0 && ack.duplicate;
          } catch (err) {
            if (ctx.nc.isClosed() || Date.now() + retryDelayMs(attempt) >= deadline) throw err;
            retries++;
            await new Promise((r) => setTimeout(r, retryDelayMs(attempt)));
          }
        }
      };
      // an eventId repeated (with the same content) within the request: published once, the repeats counted as duplicates
      const unique = events.filter((ev, index) => firstIndex.get(ev.eventId) === index);
      duplicates += events.length - unique.length;
      const outgoing = toMessages(unique.map((ev) => pseudonymise(ev, ctx.pseudonymKey)), ctx.subjects);
      // a sliding window of PUBLISH_CONCURRENCY publishes in flight (not chunks that each wait for their slowest ack);
      // after a failure no further message is started
      let next = 0;
      let failed = false;
      const worker = async () => {
        while (!failed && next < outgoing.length) {
          const msg = outgoing[next++]!;
          try {
            if (await publishOne(msg)) duplicates += msg.events;
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, outgoing.length) }, worker));
      } catch (err) {
        log.warn({ err: { message: (err as Error).message, code: (err as { code?: unknown }).code }, events: events.length, retries }, 'publish failed; answering 503');
        throw unavailable('the event broker is unavailable; retry the same batch unchanged (its events are applied once, and an identical batch is not stored twice)');
      }
      if (retries > 0) log.info({ events: events.length, retries }, 'batch published after retries (broker outage ridden out)');
      return reply.code(202).send({ accepted: events.length - duplicates, duplicates });
    },
  );
}

/**
 * Two validated events are the same event: the same fields and values, instants compared as instants (Z or +05:00),
 * vehicle refs as their pseudonyms (a plate in clear and its `ps1_` pseudonym are one ref).
 */
function sameEvent(a: KezekEvent, b: KezekEvent, pseudonymKey: string): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.every((k) => {
    if (!Object.hasOwn(rb, k)) return false;
    if (k === 'occurredAt' || k === 'until') return Date.parse(String(ra[k])) === Date.parse(String(rb[k]));
    if (k === 'vehicleRef') return pseudonymiseRef(String(ra[k]), pseudonymKey) === pseudonymiseRef(String(rb[k]), pseudonymKey);
    return ra[k] === rb[k];
  });
}

interface Outgoing {
  subject: string;
  data: string;
  msgID: string;
  events: number;
}

/**
 * The messages of a batch: its events grouped by subject in their order, cut every MAX_EVENTS_PER_MESSAGE events or
 * PUBLISH_CHUNK_BYTES of JSON. The same batch always gives the same messages and msgIDs, so a client that re-sends it
 * unchanged after a 503 or a timeout has the messages the stream already holds de-duplicated by the broker.
 */
export function toMessages(events: readonly KezekEvent[], s: Subjects): Outgoing[] {
  const groups = new Map<string, { json: string[]; ids: string[]; bytes: number }[]>();
  for (const ev of events) {
    const subject = subjectForEvent(s, ev);
    let chunks = groups.get(subject);
    if (!chunks) groups.set(subject, (chunks = []));
    const json = JSON.stringify(ev);
    const bytes = Buffer.byteLength(json) + 1;
    let last = chunks.at(-1);
    if (!last || last.json.length >= MAX_EVENTS_PER_MESSAGE || last.bytes + bytes > PUBLISH_CHUNK_BYTES) chunks.push((last = { json: [], ids: [], bytes: 2 }));
    last.json.push(json);
    last.ids.push(ev.eventId);
    last.bytes += bytes;
  }
  const out: Outgoing[] = [];
  for (const [subject, chunks] of groups) {
    for (const { json, ids } of chunks) {
      if (json.length === 1) out.push({ subject, data: json[0]!, msgID: ids[0]!, events: 1 });
      else out.push({ subject, data: `[${json.join(',')}]`, msgID: `batch:${createHash('sha512').update(ids.join('\n')).digest('hex')}`, events: json.length });
    }
  }
  return out;
}

/** crossing.status has no vehicleRef, so the union is widened for the shared helper and narrowed back. */
const pseudonymise = (ev: KezekEvent, key: string): KezekEvent => pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, key);

const unavailable = (message: string) => new HttpError('service_unavailable', message, undefined, { 'Retry-After': '5' });
