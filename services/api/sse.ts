/**
 * Server-Sent Events hub for GET /v1/stream. Live updates come from the in-process view (one JetStream consumer
 * per process, not per client). A client reconnecting with Last-Event-ID first gets the updates it missed,
 * replayed from the estimates stream by a short-lived ordered consumer starting at that sequence + 1, then the
 * live ones; both are de-duplicated by stream sequence, so nothing is skipped or sent twice.
 * Each client has a bounded output buffer: a client that cannot keep up is sent a final `overflow` event and
 * disconnected, so it cannot hold memory or slow others. On shutdown every client gets `shutdown` and is ended.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages } from '@nats-io/jetstream';
import { QueueEstimateSchema, type QueueEstimate } from '../../shared/estimates.ts';
import type { Subjects } from '../../shared/events/subjects.ts';
import type { Logger } from '../../shared/logger.ts';
import type { EstimatesView } from './view.ts';

export interface SseOptions {
  heartbeatMs: number;
  /** Bytes that may wait in a client's socket buffer before it is dropped. */
  maxBufferBytes: number;
  /** Replay stops when the consumer has been idle this long (nothing more matches the filter). */
  replayIdleMs: number;
  /** Upper bound on replayed messages per reconnect. */
  maxReplay: number;
}

export const DEFAULT_SSE_OPTIONS: SseOptions = { heartbeatMs: 15_000, maxBufferBytes: 512 * 1024, replayIdleMs: 750, maxReplay: 50_000 };

export interface StreamFilter {
  crossingId?: string;
  direction?: string;
  vehicleClass?: string;
}

export interface SseHub {
  /** Takes over the reply and streams until the client leaves or the hub closes. */
  serve(request: FastifyRequest, reply: FastifyReply, filter: StreamFilter, lastEventId: number | undefined): Promise<void>;
  readonly clients: number;
  /** Ends every stream with a `shutdown` event. Idempotent. */
  close(): Promise<void>;
}

const matches = (f: StreamFilter, e: QueueEstimate) =>
  (!f.crossingId || f.crossingId === e.crossingId) && (!f.direction || f.direction === e.direction) && (!f.vehicleClass || f.vehicleClass === e.vehicleClass);

export function createSseHub(deps: { nc: NatsConnection; view: EstimatesView; subjects: Subjects; logger: Logger; options?: Partial<SseOptions> }): SseHub {
  const opts = { ...DEFAULT_SSE_OPTIONS, ...deps.options };
  const log = deps.logger.child({ component: 'sse' });
  const live = new Set<() => void>();

  async function serve(request: FastifyRequest, reply: FastifyReply, filter: StreamFilter, lastEventId: number | undefined): Promise<void> {
    const raw = reply.raw;
    const headers: Record<string, string | number | string[]> = {};
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v as string | number | string[];
    reply.hijack();
    raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write(`retry: 3000\n: kezek estimates stream\n\n`);

    let ended = false;
    let lastSent = lastEventId ?? 0;
    let replaying = lastEventId !== undefined;
    const pending: { seq: number; est: QueueEstimate }[] = [];
    let replayMsgs: ConsumerMessages | undefined;

    const end = (event?: { name: string; data: unknown }) => {
      if (ended) return;
      ended = true;
      if (event && !raw.destroyed) raw.write(`event: ${event.name}\ndata: ${JSON.stringify(event.data)}\n\n`);
      cleanup();
      raw.end();
    };
    const send = (seq: number, est: QueueEstimate) => {
      if (ended || seq <= lastSent) return;
      lastSent = seq;
      raw.write(`id: ${seq}\nevent: estimate\ndata: ${JSON.stringify(est)}\n\n`);
      if (raw.writableLength > opts.maxBufferBytes) {
        log.warn({ bufferedBytes: raw.writableLength }, 'SSE client too slow; disconnecting');
        end({ name: 'overflow', data: { message: 'client too slow: reconnect with Last-Event-ID to resume', lastEventId: seq } });
      }
    };

    const unsubscribe = deps.view.onChange(({ next, seq }) => {
      if (!matches(filter, next)) return;
      if (replaying) {
        if (pending.length >= opts.maxReplay) end({ name: 'overflow', data: { message: 'too many updates during replay; reconnect', lastEventId: lastSent } });
        else pending.push({ seq, est: next });
      } else send(seq, next);
    });
    const heartbeat = setInterval(() => {
      if (!ended) raw.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    }, opts.heartbeatMs);
    heartbeat.unref();
    const stop = () => end({ name: 'shutdown', data: { message: 'server shutting down; reconnect with Last-Event-ID', lastEventId: lastSent } });
    live.add(stop);
    function cleanup() {
      unsubscribe();
      clearInterval(heartbeat);
      live.delete(stop);
      void replayMsgs?.close().catch(() => undefined);
    }
    raw.on('close', () => {
      if (!ended) {
        ended = true;
        cleanup();
      }
    });
    request.log.debug({ filter, lastEventId }, 'SSE client connected');

    if (lastEventId !== undefined) {
      try {
        await replay(lastEventId);
      } catch (err) {
        log.warn({ err: { message: (err as Error).message } }, 'SSE replay failed');
        end({ name: 'error', data: { message: 'could not replay missed updates; reconnect later' } });
        return;
      }
      replaying = false;
      for (const p of pending.splice(0)) send(p.seq, p.est);
    }

    async function replay(fromSeq: number): Promise<void> {
      const jsm = await jetstreamManager(deps.nc);
      const target = (await jsm.streams.info(deps.subjects.estimatesStream)).state.last_seq;
      if (target <= fromSeq) return;
      const subject = deps.subjects.estimatesFor(filter.crossingId ?? '*', filter.direction ?? '*', filter.vehicleClass ?? '*');
      const consumer = await jetstream(deps.nc).consumers.get(deps.subjects.estimatesStream, { filter_subjects: subject, opt_start_seq: fromSeq + 1 });
      const msgs = await consumer.consume({ max_messages: 256 });
      replayMsgs = msgs;
      let count = 0;
      let idle: NodeJS.Timeout | undefined;
      const armIdle = () => {
        clearTimeout(idle);
        idle = setTimeout(() => void msgs.close(), opts.replayIdleMs);
      };
      armIdle();
      for await (const m of msgs) {
        if (ended) break;
        armIdle();
        const res = QueueEstimateSchema.safeParse((() => { try { return m.json(); } catch { return undefined; } })());
        if (res.success && m.seq <= target) send(m.seq, res.data);
        if (m.seq >= target || m.info.pending === 0 || ++count >= opts.maxReplay) break;
      }
      clearTimeout(idle);
      await msgs.close().catch(() => undefined);
    }
  }

  return {
    serve,
    get clients() {
      return live.size;
    },
    async close() {
      for (const stop of [...live]) stop();
    },
  };
}
