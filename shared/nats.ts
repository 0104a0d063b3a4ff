/**
 * NATS connection and JetStream topology. Streams are created idempotently (create, or update to the
 * wanted config), with a duplicate window so a re-sent eventId is stored once.
 */
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { Logger } from './logger.ts';
// side effect: the request clean-up fix, in place before any connection exists (see the module)
import './nats-request-patch.ts';
import { subjects } from './events/subjects.ts';

export const DUPLICATE_WINDOW_MS = 2 * 60 * 60 * 1000; // 2 h: covers producer retries after long outages of the link
/**
 * How long dead letters are kept, and the DLQ stream's duplicate window too: a dead letter's msgID names the event
 * it holds (`dlq:<events stream>:<created ms>:<seq>[#<index>]`, services/estimator/messages.ts deadLetterMsgId), so a rebuild or partition replay
 * that meets the same poison event again is stored once while the first letter is kept. (With the default 2-minute
 * window every rebuild added a second copy of every older letter.) nats-server keeps about 200 B of memory per msgID
 * in the window: 100,000 letters with msgIDs grew its RSS by 23.5 MiB, without msgIDs by 4.9 (v2.9.10, 2026-11-23).
 */
export const DLQ_MAX_AGE_MS = 30 * 24 * 60 * 60 * 1000;
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/**
 * The inbox prefix of a connection: the replies to its requests (JetStream publish acks, API answers, pull batches)
 * arrive on `<prefix>.<random>`. With a user, `_INBOX_<user>`: infra/nats/accounts.conf lets each user subscribe to
 * its own prefix only, so no user can read another's replies. `override` (NATS_INBOX_PREFIX) replaces it, e.g.
 * `_INBOX` for a server whose permissions grant the shared `_INBOX.>`. Without a user: the client's default.
 */
export function inboxPrefixFor(user: string | undefined, override?: string): string | undefined {
  if (override) return override;
  return user ? `_INBOX_${user}` : undefined;
}

export interface NatsOptions {
  url?: string;
  name: string;
  logger?: Logger;
  user?: string;
  pass?: string;
  /** See inboxPrefixFor (default: from `user`). */
  inboxPrefix?: string;
  /** Reconnect forever by default: producers and services must ride out broker restarts. */
  maxReconnectAttempts?: number;
}

/** The connection settings of the environment (NATS_URL, NATS_USER, NATS_PASSWORD, NATS_INBOX_PREFIX), as NatsOptions. */
export function natsSettings(env: { NATS_URL?: string; NATS_USER?: string; NATS_PASSWORD?: string; NATS_INBOX_PREFIX?: string }): Pick<NatsOptions, 'url' | 'user' | 'pass' | 'inboxPrefix'> {
  return { url: env.NATS_URL, user: env.NATS_USER, pass: env.NATS_PASSWORD, inboxPrefix: env.NATS_INBOX_PREFIX };
}

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  const servers = (opts.url ?? DEFAULT_NATS_URL).split(',').map((s) => s.trim());
  const nc = await connect({
    servers,
    name: opts.name,
    user: opts.user,
    pass: opts.pass,
    inboxPrefix: inboxPrefixFor(opts.user, opts.inboxPrefix),
    maxReconnectAttempts: opts.maxReconnectAttempts ?? -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: false,
    // Without this the client builds two Error objects (stack traces) for EVERY request and JetStream publish, to
    // point a possible timeout at its call site: a third of the ingest gateway's CPU under load in the profile.
    // Our timeouts are reported with their subject and context by the callers, not by stack.
    noAsyncTraces: true,
  });
  if (opts.logger) {
    const log = opts.logger;
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect' || s.type === 'reconnect') log.warn({ status: s.type }, `nats ${s.type}`);
        else if (s.type === 'error') log.error({ status: s.type }, 'nats error');
      }
    })();
  }
  return nc;
}

export interface StreamOptions {
  prefix?: string;
  replicas?: number;
  /** Max age of the event stream; 0 = keep forever (the event log is the durable record). */
  eventsMaxAgeMs?: number;
}

export function streamConfigs(opts: StreamOptions = {}): (Partial<StreamConfig> & { name: string })[] {
  const s = subjects(opts.prefix);
  const replicas = opts.replicas ?? 1;
  return [
    {
      name: s.eventsStream,
      subjects: [s.eventsAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      duplicate_window: nanos(DUPLICATE_WINDOW_MS),
      max_age: nanos(opts.eventsMaxAgeMs ?? 0),
      num_replicas: replicas,
      discard: DiscardPolicy.Old,
    },
    {
      name: s.estimatesStream,
      subjects: [s.estimatesAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(24 * 60 * 60 * 1000),
      max_msgs_per_subject: 2000,
      num_replicas: replicas,
      discard: DiscardPolicy.Old,
    },
    {
      name: s.dlqStream,
      subjects: [s.dlqAll],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(DLQ_MAX_AGE_MS),
      duplicate_window: nanos(DLQ_MAX_AGE_MS),
      num_replicas: replicas,
      discard: DiscardPolicy.Old,
    },
  ];
}

/** Creates or updates the Kezek streams. Safe to call from every service at boot. */
export async function ensureStreams(nc: NatsConnection, opts: StreamOptions = {}): Promise<JetStreamManager> {
  const jsm = await jetstreamManager(nc);
  for (const cfg of streamConfigs(opts)) {
    try {
      await jsm.streams.info(cfg.name);
      await jsm.streams.update(cfg.name, cfg);
    } catch (err) {
      if ((err as { code?: unknown; message?: string }).message?.includes('stream not found') || isNotFound(err)) {
        await jsm.streams.add(cfg);
      } else {
        throw err;
      }
    }
  }
  return jsm;
}

function isNotFound(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: number }; code?: number | string };
  return e?.api_error?.err_code === 10059 || e?.code === 404 || e?.code === '404';
}

/**
 * For producers whose NATS user may not manage streams (least privilege in infra/nats): try to create/update the
 * streams, and when the server refuses, carry on - the estimator and API own the topology - with one warning.
 * A server without JetStream is not a refusal to carry on from: nothing could ever store the events (the simulator
 * buffered to disk forever, the replay for 60 s), so that error is thrown (isJetStreamDisabled tells it apart).
 */
export async function ensureStreamsIfAllowed(nc: NatsConnection, opts: StreamOptions, logger: Logger): Promise<void> {
  try {
    await ensureStreams(nc, opts);
  } catch (err) {
    if (isJetStreamDisabled(err)) throw new JetStreamDisabledError(nc.getServer(), { cause: err });
    logger.warn({ err: { message: (err as Error).message } }, 'could not create or update the JetStream streams (no permission?); assuming the estimator and API manage them');
  }
}

/**
 * ensureStreamsIfAllowed's error for a server without JetStream, naming the server (as the connection knows it) and
 * the fix, for a caller that lets it reach its generic failure handler. Tools report it with shared/cli.ts
 * jetStreamProblem before this point (exit 3).
 */
/** What to do about a NATS without JetStream (shared/cli.ts jetStreamDisabledProblem says it too). */
export const JETSTREAM_DISABLED_FIX = 'start nats-server with -js (JetStream), or enable JetStream for the account';

export class JetStreamDisabledError extends Error {
  constructor(server: string, options?: ErrorOptions) {
    super(`NATS at ${server} has JetStream disabled: ${JETSTREAM_DISABLED_FIX}`, options);
    this.name = 'JetStreamDisabledError';
  }
}

/** JetStream API error codes meaning "no JetStream here": JSNotEnabledForAccountErr, JSNotEnabledErr (nats-server). */
const JETSTREAM_NOT_ENABLED_CODES = new Set([10039, 10076]);

/**
 * Whether an error of a JetStream call means the server (or the connection's account) has JetStream disabled, e.g. a
 * plain `nats-server` started without `-js`. Nothing answers `$JS.API.>` there: the client turns the "no responders"
 * (status 503) into a `JetStreamNotEnabled` error, as it does the server's "jetstream not enabled for account"
 * (10039). Checked by name and code along the `cause` chain, since the client exports no class to test against.
 * A permission refusal (infra/nats least-privilege users) or a timeout is NOT this: those stay temporary or the
 * caller's to tolerate.
 */
export function isJetStreamDisabled(err: unknown): boolean {
  let at: unknown = err;
  for (let depth = 0; at !== null && typeof at === 'object' && depth < 5; depth++) {
    const e = at as { name?: unknown; code?: unknown; api_error?: { err_code?: unknown }; cause?: unknown };
    if (e.name === 'JetStreamNotEnabled') return true;
    if (e.name === 'JetStreamApiError' && JETSTREAM_NOT_ENABLED_CODES.has(Number(e.code))) return true;
    if (JETSTREAM_NOT_ENABLED_CODES.has(Number(e.api_error?.err_code))) return true;
    at = e.cause;
  }
  return false;
}

/**
 * Asks the JetStream API for the account's info (`$JS.API.INFO`, which every user of infra/nats may ask) and
 * resolves true when the server says JetStream is disabled. Any other failure (a permission refusal, a timeout)
 * resolves false: the service's own stream calls then report it as before. Services that need JetStream call it
 * right after connecting, so a server started without `-js` stops them at once with one clear line
 * (shared/cli.ts jetStreamProblem) instead of a stack trace or endless buffering.
 */
export async function jetStreamDisabled(nc: NatsConnection, timeoutMs = 5000): Promise<boolean> {
  try {
    await jetstreamManager(nc, { timeout: timeoutMs });
    return false;
  } catch (err) {
    return isJetStreamDisabled(err);
  }
}
