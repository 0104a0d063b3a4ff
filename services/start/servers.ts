/**
 * How `npm start` finds its NATS and Redis: a configured URL (NATS_URL / REDIS_URL) must answer; otherwise
 * (LOCAL_SERVERS=auto) a server already answering on the default port is reused, or one is spawned there with
 * its data under DATA_DIR; LOCAL_SERVERS=spawn always spawns private servers on free ports.
 * Every server is probed with a real client before it is handed to the services, so a wrong port or a broker
 * without JetStream fails here with one clear message instead of three confusing ones from the children.
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { inboxPrefixFor } from '../../shared/nats.ts';
import { Redis } from 'ioredis';
import { INSTALL_HINT, findBinary, freePort, isPortOpen, startNatsServer, startRedisServer, type LocalServer } from '../../shared/local-servers.ts';

export const DEFAULT_NATS_PORT = 4222;
export const DEFAULT_REDIS_PORT = 6379;

export type ServerOrigin = 'configured' | 'reused' | 'spawned';

export interface ResolvedServer {
  kind: 'nats' | 'redis';
  url: string;
  origin: ServerOrigin;
  /** Present when this process spawned the server and must stop it on shutdown. */
  local?: LocalServer;
}

export class StartError extends Error {
  constructor(
    readonly code: 'BINARY_MISSING' | 'NATS_UNREACHABLE' | 'REDIS_UNREACHABLE' | 'SERVICE_MISSING' | 'SPAWN_FAILED',
    message: string,
  ) {
    super(message);
  }
}

/** URL without user/password, for logs and the banner. */
export function redactUrl(url: string): string {
  return url
    .split(',')
    .map((u) => {
      try {
        const parsed = new URL(u.trim());
        if (!parsed.username && !parsed.password) return u.trim();
        parsed.username = parsed.username ? '***' : '';
        parsed.password = parsed.password ? '***' : '';
        return parsed.toString();
      } catch {
        return '[unparseable url]';
      }
    })
    .join(',');
}

export interface NatsCredentials {
  user?: string;
  pass?: string;
  /** NATS_INBOX_PREFIX (shared/nats.ts inboxPrefixFor). */
  inboxPrefix?: string;
}

/** Connects once (no reconnects) and checks JetStream is enabled for this account. Throws a readable Error. */
export async function probeNats(url: string, creds: NatsCredentials = {}, timeoutMs = 3000): Promise<void> {
  let nc;
  try {
    nc = await connect({
      servers: url.split(',').map((s) => s.trim()),
      user: creds.user,
      pass: creds.pass,
      inboxPrefix: inboxPrefixFor(creds.user, creds.inboxPrefix),
      timeout: timeoutMs,
      maxReconnectAttempts: 0,
      reconnect: false,
      name: 'kezek-start-probe',
    });
  } catch (err) {
    throw new Error(`cannot connect: ${(err as Error).message}`, { cause: err });
  }
  try {
    await jetstreamManager(nc, { timeout: timeoutMs });
  } catch (err) {
    throw new Error(`connected, but JetStream is not available (start nats-server with -js): ${(err as Error).message}`, { cause: err });
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** One PING without retries. Throws a readable Error (also when the server wants a password we do not have). */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new Error(`unexpected PING reply ${JSON.stringify(pong)}`);
  } catch (err) {
    throw new Error(`cannot use it: ${(err as Error).message}`, { cause: err });
  } finally {
    redis.disconnect();
  }
}

export interface ResolveOptions {
  configuredUrl: string | undefined;
  mode: 'auto' | 'spawn';
  dataDir: string;
  natsCreds?: NatsCredentials;
  /** Called before a slow step, for progress logs. */
  onSpawn?: (kind: 'nats' | 'redis', port: number) => void;
}

export async function resolveNats(opts: ResolveOptions): Promise<ResolvedServer> {
  if (opts.configuredUrl) {
    await probeNats(opts.configuredUrl, opts.natsCreds).catch((err: Error) => {
      throw new StartError('NATS_UNREACHABLE', `NATS_URL ${redactUrl(opts.configuredUrl!)}: ${err.message}`);
    });
    return { kind: 'nats', url: opts.configuredUrl, origin: 'configured' };
  }
  let port: number | undefined;
  if (opts.mode === 'auto') {
    if (await isPortOpen(DEFAULT_NATS_PORT)) {
      const url = `nats://127.0.0.1:${DEFAULT_NATS_PORT}`;
      await probeNats(url, opts.natsCreds).catch((err: Error) => {
        throw new StartError(
          'NATS_UNREACHABLE',
          `something listens on 127.0.0.1:${DEFAULT_NATS_PORT} but it is not a usable NATS server (${err.message}). ` +
            'Set NATS_URL, free the port, or set LOCAL_SERVERS=spawn to start a private nats-server.',
        );
      });
      return { kind: 'nats', url, origin: 'reused' };
    }
    port = DEFAULT_NATS_PORT;
  }
  if (!findBinary('nats-server')) throw new StartError('BINARY_MISSING', `nats-server is not installed.\n${INSTALL_HINT}`);
  port ??= await freePort();
  opts.onSpawn?.('nats', port);
  const local = await startNatsServer({ dataDir: join(opts.dataDir, 'nats'), port, detached: true }).catch((err: Error) => {
    throw new StartError('SPAWN_FAILED', `could not start nats-server: ${err.message}`);
  });
  return { kind: 'nats', url: local.url, origin: 'spawned', local };
}

export async function resolveRedis(opts: ResolveOptions): Promise<ResolvedServer> {
  if (opts.configuredUrl) {
    await probeRedis(opts.configuredUrl).catch((err: Error) => {
      throw new StartError('REDIS_UNREACHABLE', `REDIS_URL ${redactUrl(opts.configuredUrl!)}: ${err.message}`);
    });
    return { kind: 'redis', url: opts.configuredUrl, origin: 'configured' };
  }
  let port: number | undefined;
  if (opts.mode === 'auto') {
    if (await isPortOpen(DEFAULT_REDIS_PORT)) {
      const url = `redis://127.0.0.1:${DEFAULT_REDIS_PORT}`;
      await probeRedis(url).catch((err: Error) => {
        throw new StartError(
          'REDIS_UNREACHABLE',
          `something listens on 127.0.0.1:${DEFAULT_REDIS_PORT} but it is not a usable Redis (${err.message}). ` +
            'Set REDIS_URL, free the port, or set LOCAL_SERVERS=spawn to start a private redis-server.',
        );
      });
      return { kind: 'redis', url, origin: 'reused' };
    }
    port = DEFAULT_REDIS_PORT;
  }
  if (!findBinary('redis-server')) throw new StartError('BINARY_MISSING', `redis-server is not installed.\n${INSTALL_HINT}`);
  port ??= await freePort();
  opts.onSpawn?.('redis', port);
  // appendonly: the estimator's state survives a restart of `npm start` (the event stream could rebuild it, but slowly)
  const local = await startRedisServer({ dataDir: join(opts.dataDir, 'redis'), port, appendonly: true, detached: true }).catch(
    (err: Error) => {
      throw new StartError('SPAWN_FAILED', `could not start redis-server: ${err.message}`);
    },
  );
  return { kind: 'redis', url: local.url, origin: 'spawned', local };
}
