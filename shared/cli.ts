/**
 * Small helpers shared by the operator CLIs and services (api, replay, simulator, dlq, the estimator's run/rebuild):
 * the one-line message of a failed NATS or Redis connection or of a NATS without JetStream, and a logger that writes
 * to stderr. Importable without side effects.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { pino, type Logger } from 'pino';
import { DEFAULT_NATS_URL, JETSTREAM_DISABLED_FIX, connectNats, jetStreamDisabled, type NatsOptions } from './nats.ts';
import type { Redis, RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import { DEFAULT_REDIS_URL, createRedisClient } from './redis.ts';
import { REDACT_PATHS } from './logger.ts';

/**
 * Exit code of the CLIs when NATS (or Redis) cannot be reached or refuses the credentials, or NATS has JetStream
 * disabled: the server is the operator's to fix, not the command.
 */
export const EXIT_NATS_UNAVAILABLE = 3;

/** A comma-separated list of server URLs as shown to an operator: any password in them masked. */
export function maskUrlPasswords(urls: string): string {
  return urls
    .split(',')
    .map((raw) => {
      const u = raw.trim();
      try {
        const parsed = new URL(u);
        if (!parsed.password) return u;
        parsed.password = '***';
        return parsed.toString().replace(/\/$/, '');
      } catch {
        return u;
      }
    })
    .join(',');
}

/** The NATS_URL value as shown to an operator: each URL with any password in it masked. */
export const displayNatsUrl = (natsUrl: string | undefined): string => (natsUrl ? maskUrlPasswords(natsUrl) : DEFAULT_NATS_URL);

/**
 * One line for a failed first Redis command, naming the server and the variable to fix. `err` is the connection's
 * own error when there was one (ECONNREFUSED says more than the command's "max retries").
 */
export function redisConnectProblem(err: unknown, env: { REDIS_URL?: string; REDIS_SENTINELS?: string }): string {
  const where = env.REDIS_SENTINELS ? `sentinels ${env.REDIS_SENTINELS} (REDIS_SENTINELS)` : `${maskUrlPasswords(env.REDIS_URL ?? DEFAULT_REDIS_URL)} (${env.REDIS_URL ? 'REDIS_URL' : 'the default; set REDIS_URL'})`;
  return `cannot reach Redis at ${where}: ${(err as Error | undefined)?.message ?? String(err)}`;
}

/**
 * One line for an error of the first NATS connection, naming the server and the variable to fix, e.g.
 * `cannot reach NATS at nats://127.0.0.1:1 (NATS_URL): connection refused`.
 */
export function natsConnectProblem(err: unknown, natsUrl: string | undefined): string {
  const where = `${displayNatsUrl(natsUrl)} (${natsUrl ? 'NATS_URL' : 'the default; set NATS_URL'})`;
  const e = err as { name?: string; message?: string; code?: string } | undefined;
  const message = e?.message ?? String(err);
  if (e?.name === 'AuthorizationError' || /authorization|authentication/i.test(message)) {
    return `NATS at ${where} refused the credentials: ${message} (check NATS_USER and NATS_PASSWORD)`;
  }
  if (e?.name === 'TimeoutError' || message === 'timeout') return `cannot reach NATS at ${where}: no NATS server answered in time (timeout)`;
  return `cannot reach NATS at ${where}: ${message}`;
}

/** A server the operator has to fix (unreachable, credentials refused, no JetStream): its one line, exit 3. */
export function exitUnreachable(line: string): never {
  process.stderr.write(`${line}\n`);
  process.exit(EXIT_NATS_UNAVAILABLE);
}

/**
 * A service's Redis client, once its boot ping answered; when it does not, the service stops with
 * redisConnectProblem's one line (exit 3) and no JSON warning per connection retry before it. Errors after the boot
 * are logged (`redis error`) while ioredis reconnects.
 */
export async function connectRedisOrExit(
  config: Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>,
  options: RedisOptions,
  logger: Pick<Logger, 'warn'>,
): Promise<Redis> {
  const redis = createRedisClient(config, options);
  let lastError: Error | undefined;
  let ready = false;
  redis.on('error', (err: Error) => {
    lastError = err;
    if (ready) logger.warn({ reason: err.message }, 'redis error');
  });
  // the connection's own error (ECONNREFUSED ...) says more than the command's "max retries" one
  await redis.ping().catch((err: unknown) => exitUnreachable(redisConnectProblem(lastError ?? err, config)));
  ready = true;
  return redis;
}

/**
 * One line for a NATS server that answers but has JetStream disabled (a plain `nats-server` without `-js`), naming
 * the server and the variable. Without JetStream nothing can store events, so waiting or buffering would never end.
 */
export function jetStreamDisabledProblem(natsUrl: string | undefined): string {
  const where = `${displayNatsUrl(natsUrl)} (${natsUrl ? 'NATS_URL' : 'the default; set NATS_URL'})`;
  return `NATS at ${where} has JetStream disabled: ${JETSTREAM_DISABLED_FIX}, or point NATS_URL at a server that has it`;
}

/**
 * For a service's startup, right after connecting: jetStreamDisabledProblem's line when the server has JetStream
 * disabled (shared/nats.ts jetStreamDisabled asks `$JS.API.INFO`), otherwise undefined. The caller prints it and
 * exits EXIT_NATS_UNAVAILABLE. A permission refusal or a timeout is not reported here (see jetStreamDisabled).
 */
export async function jetStreamProblem(nc: NatsConnection, natsUrl: string | undefined): Promise<string | undefined> {
  return (await jetStreamDisabled(nc)) ? jetStreamDisabledProblem(natsUrl) : undefined;
}

/**
 * A service's start-up connection to NATS with JetStream: the connection, or the one line saying why not (unreachable,
 * credentials refused: natsConnectProblem; no JetStream: jetStreamDisabledProblem, the connection then closed). The
 * API, estimator, simulator and replay all start through it (the replay adds "nothing was published" and returns).
 */
export async function connectJetStream(opts: NatsOptions): Promise<{ nc: NatsConnection } | { problem: string }> {
  let nc: NatsConnection;
  try {
    nc = await connectNats(opts);
  } catch (err) {
    return { problem: natsConnectProblem(err, opts.url) };
  }
  const problem = await jetStreamProblem(nc, opts.url);
  if (problem === undefined) return { nc };
  await nc.close();
  return { problem };
}

/** connectJetStream for a service that stops on a problem: its one line, exit 3. */
export async function connectJetStreamOrExit(opts: NatsOptions): Promise<NatsConnection> {
  const res = await connectJetStream(opts);
  if ('problem' in res) exitUnreachable(res.problem);
  return res.nc;
}

/**
 * The replay's logger: like shared/logger.ts createLogger (same redaction), but on stderr, so stdout carries only
 * the summary. Pretty on a terminal, JSON lines otherwise.
 */
export function createStderrLogger(service: string, level: string): Logger {
  const options = { level, base: { service }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (process.stderr.isTTY && process.env.NODE_ENV !== 'production') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss', destination: 2 } } });
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}

/**
 * Calls `onFirst` on the first SIGINT/SIGTERM, for a graceful stop. The listeners stay installed: `tsx` (how every
 * Kezek CLI runs) relays a terminal's Ctrl-C to the process a second time within milliseconds, and with a
 * `process.once` listener that relayed signal found none and killed the process mid-shutdown (replay lost its summary
 * and resume line 2 times in 8). A repeat within `graceMs` is taken as that echo and ignored; a later one is a user
 * insisting: `onAgain` runs (say what is lost) and the process exits 130.
 */
export function onInterrupt(onFirst: (signal: NodeJS.Signals) => void, onAgain?: () => void, graceMs = 1000): void {
  let firstAt: number | undefined;
  const handler = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = Date.now();
      onFirst(signal);
      return;
    }
    if (Date.now() - firstAt < graceMs) return;
    onAgain?.();
    process.exit(130);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
