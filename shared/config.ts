/**
 * The only reader of Kezek's settings in process.env (shared/logger.ts reads NODE_ENV itself). Parsed once with zod;
 * a bad variable stops the process with a message that names it. Every service takes the typed `Config` (or a slice
 * of it) as a dependency.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

const onOff = z.enum(['on', 'off']);

export const ROLES = ['reader', 'producer', 'official', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface ApiToken {
  role: Role;
  token: string;
}

/** `API_TOKENS=producer:abc,reader:def` -> [{role, token}]. Throws with a message that never contains a token. */
export function parseApiTokens(raw: string): ApiToken[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((pair, i) => {
    const idx = pair.indexOf(':');
    const role = idx < 0 ? '' : pair.slice(0, idx).trim();
    const token = idx < 0 ? '' : pair.slice(idx + 1).trim();
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new Error(`entry ${i + 1}: role must be one of ${ROLES.join(', ')} (format role:token, comma-separated)`);
    }
    if (token.length < 8) throw new Error(`entry ${i + 1} (${role}): token must be at least 8 characters`);
    return { role: role as Role, token };
  });
}

/** One URL with one of the schemes (Redis: one node; a Sentinel deployment lists its sentinels in REDIS_SENTINELS). */
const singleUrl = (schemes: string[], hint: string) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return schemes.includes(new URL(v).protocol) && !v.includes(',');
        } catch {
          return false;
        }
      },
      { message: `must be one URL with scheme ${schemes.join(' or ')}${hint}` },
    );

/** Variables whose values are secrets: no error message ever prints them (docs/security.md). */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['API_TOKENS', 'PSEUDONYM_KEY', 'NATS_PASSWORD']);

const urlList = (schemes: string[]) =>
  z
    .string()
    .trim()
    .refine(
      (v) =>
        v.split(',').every((u) => {
          try {
            return schemes.includes(new URL(u.trim()).protocol);
          } catch {
            return false;
          }
        }),
      { message: `must be a URL (or comma-separated list) with scheme ${schemes.join(' or ')}` },
    );

/**
 * A number written in decimal: digits, an optional sign and fraction. `z.coerce.number()` alone also took `0x10`,
 * `1e3`, `0b1` or `Infinity`, so a typo could pass as another value.
 */
const decimal = <T extends z.ZodType<number, number>>(n: T) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+(\.\d+)?$/, 'must be a decimal number (digits; no hex, exponent, units or Infinity)')
    .transform(Number)
    .pipe(n);

export const EnvSchema = z.object({
  NATS_URL: urlList(['nats:', 'tls:']).optional(),
  REDIS_URL: singleUrl(['redis:', 'rediss:'], ' (several nodes: REDIS_SENTINELS with REDIS_SENTINEL_NAME)').optional(),
  /** NATS user and password of this process (infra/nats/nats.conf defines one user per role); unset = no auth. */
  NATS_USER: z.string().trim().min(1).optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  /**
   * Inbox prefix for replies (shared/nats.ts inboxPrefixFor). Default: `_INBOX_<NATS_USER>` with a user (the
   * per-user inboxes of infra/nats/accounts.conf), the client's `_INBOX` without.
   */
  NATS_INBOX_PREFIX: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be one subject token: letters, digits, _ or - (no dots or wildcards)')
    .optional(),
  /** Sentinel deployments: comma-separated host:port of the sentinels; the primary is found by REDIS_SENTINEL_NAME. */
  REDIS_SENTINELS: z
    .string()
    .trim()
    .regex(/^[^,:\s]+:\d{1,5}(,[^,:\s]+:\d{1,5})*$/, 'must be host:port[,host:port...]')
    .optional(),
  REDIS_SENTINEL_NAME: z.string().trim().min(1).default('kezek'),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  PORT: decimal(z.number().int().min(0).max(65535)).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SIMULATOR: onOff.default('on'),
  SIMULATOR_SPEED: decimal(z.number().positive().max(100_000)).default(1),
  SIMULATOR_SEED: decimal(z.number().int()).default(42),
  API_TOKENS: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      try {
        return parseApiTokens(raw);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  READ_AUTH: onOff.default('off'),
  RATE_LIMIT_PER_MINUTE: decimal(z.number().int().min(0)).default(600),
  WRITE_RATE_LIMIT_PER_MINUTE: decimal(z.number().int().min(0)).default(120),
  CORS_ORIGINS: z.string().default('*'),
  /**
   * The reverse proxies in front of the API, whose X-Forwarded-For names the client (rate limits, logs): a hop count
   * (`1`: the nearest proxy) or comma-separated addresses / CIDRs (`10.0.0.0/8,192.168.1.5`). Empty (the default):
   * none, the header is ignored and the client is the connection's address. "Trust everyone" is not offered: anyone
   * could then pick the address their requests are counted under.
   */
  TRUST_PROXY: z
    .string()
    .trim()
    .default('')
    .transform((raw, ctx): false | number | string[] => {
      if (raw === '') return false;
      if (/^\d+$/.test(raw)) {
        const hops = Number(raw);
        if (hops >= 1 && hops <= 10) return hops;
      }
      const list = raw.split(',').map((x) => x.trim());
      const bad = list.filter((x) => {
        const [ip, bits, ...rest] = x.split('/');
        const family = isIP(ip ?? '');
        if (family === 0 || rest.length > 0) return true;
        return bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
      });
      if (bad.length === 0) return list;
      ctx.addIssue({ code: 'custom', message: `must be a hop count (1-10) or comma-separated IP addresses / CIDRs; not valid: ${bad.join(', ')}` });
      return z.NEVER;
    }),
  /**
   * `on`: webhooks may target loopback, private and link-local addresses (receivers on a private network). Off by
   * default: a reader could otherwise make the API post to Redis, NATS or a cloud metadata service (SSRF).
   */
  WEBHOOK_PRIVATE_TARGETS: onOff.default('off'),
  /** Key for pseudonymising vehicle references (HMAC-SHA256). At least 16 characters. */
  PSEUDONYM_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Namespace for NATS subjects/streams and Redis keys, so several deployments or tests can share servers. */
  KEZEK_PREFIX: z
    .string()
    .regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be lowercase letters, digits or _ (max 32), starting with a letter')
    .default('kezek'),
  DATA_DIR: z.string().default('.data'),
  /**
   * `npm start` only, when NATS_URL / REDIS_URL are unset: `auto` reuses a server answering on the default port
   * (4222 / 6379) or spawns one there; `spawn` always spawns private servers on free ports (tests, CI, demos).
   */
  LOCAL_SERVERS: z.enum(['auto', 'spawn']).default('auto'),
  STALE_AFTER_SECONDS: decimal(z.number().int().positive()).default(900),
  /**
   * Estimator and API (its `/waits?asOf=` answers run the model): the longest a QUIET queue may go without an event
   * before it is stale. A queue turns stale once STALE_AFTER_SECONDS have passed AND its usual traffic (catalogue
   * profile) made an event 99 % likely, or after this long at the latest (shared/estimation/staleness.ts). Set it to
   * STALE_AFTER_SECONDS for a fixed threshold.
   */
  STALE_QUIET_MAX_SECONDS: decimal(z.number().int().positive().max(172_800)).default(43_200),
  /** How long POST /v1/events keeps re-publishing through a broker outage before answering 503 (0 = at once). */
  INGEST_RETRY_SECONDS: decimal(z.number().min(0).max(300)).default(10),
  /** JetStream replicas of the Kezek streams (3 on a three-node cluster). Every service must use the same value. */
  NATS_REPLICAS: decimal(z.number().int().min(1).max(5)).default(1),
  /** `crossing`: one consumer per crossing, shared out between estimator instances by Redis leases (docs/scale-out.md). */
  ESTIMATOR_PARTITIONING: z.enum(['off', 'crossing']).default('off'),
  /** Lease lifetime of an estimator partition: a dead instance's crossings move to the others after about this long. */
  ESTIMATOR_LEASE_MS: decimal(z.number().int().min(1000).max(300_000)).default(15_000),
  /** First redelivery delay of an event an estimator took but did not ack (e.g. it crashed). */
  ESTIMATOR_ACK_WAIT_MS: decimal(z.number().int().min(1000).max(600_000)).default(30_000),
});

export type Config = z.infer<typeof EnvSchema>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Parse an env-like object. Throws ConfigError naming each bad variable. */
export function parseConfig(env: Record<string, string | undefined> = process.env): Config {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') clean[k] = v;
  const res = EnvSchema.safeParse(clean);
  if (!res.success) {
    const lines = res.error.issues.map((i) => {
      const name = String(i.path[0] ?? '?');
      const shown = SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(clean[name])})`;
      return `  ${name}: ${i.message}${shown}`;
    });
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  // set explicitly below STALE_AFTER_SECONDS it would be raised to it silently (a quiet queue is never judged faster
  // than a busy one): say so instead; left at its default it is raised without a word (STALE_AFTER_SECONDS over 12 h)
  if (clean.STALE_QUIET_MAX_SECONDS !== undefined && res.data.STALE_QUIET_MAX_SECONDS < res.data.STALE_AFTER_SECONDS) {
    throw new ConfigError(
      `Invalid configuration:\n  STALE_QUIET_MAX_SECONDS: must be at least STALE_AFTER_SECONDS (${res.data.STALE_AFTER_SECONDS}): a quiet queue cannot turn stale before a busy one (got ${JSON.stringify(clean.STALE_QUIET_MAX_SECONDS)})`,
    );
  }
  return res.data;
}

/** For main.ts files: parse or print the problem and exit(2). */
export function loadConfigOrExit(env: Record<string, string | undefined> = process.env): Config {
  try {
    return parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}
