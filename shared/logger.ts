/** One pino root per process. Secrets are redacted; pretty output only on a terminal. */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'apiTokens',
  'config.API_TOKENS',
  'config.PSEUDONYM_KEY',
  'API_TOKENS',
  'PSEUDONYM_KEY',
  'secret',
  '*.secret',
  'vehicleRef',
  '*.vehicleRef',
];

export function createLogger(opts: { service: string; level?: string; pretty?: boolean }): Logger {
  const pretty = opts.pretty ?? (process.stdout.isTTY && process.env.NODE_ENV !== 'production');
  return pino({
    level: opts.level ?? 'info',
    base: { service: opts.service },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss' } } } : {}),
  });
}
