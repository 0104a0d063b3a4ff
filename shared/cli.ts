/**
 * Small helpers shared by the operator CLIs (replay, simulator): the one-line message of a failed NATS connection
 * and a logger that writes to stderr. Importable without side effects.
 */
import { pino, type Logger } from 'pino';
import { DEFAULT_NATS_URL } from './nats.ts';
import { REDACT_PATHS } from './logger.ts';

/** Exit code of replay and simulator when NATS cannot be reached or refuses the credentials. */
export const EXIT_NATS_UNAVAILABLE = 3;

/** The NATS_URL value as shown to an operator: each URL with any password in it masked. */
export function displayNatsUrl(natsUrl: string | undefined): string {
  if (!natsUrl) return DEFAULT_NATS_URL;
  return natsUrl
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
