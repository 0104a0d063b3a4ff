/**
 * The one place a Redis client is built from configuration, so every service supports the same topologies:
 * - a single node (REDIS_URL; production runs it with AOF, infra/redis/redis.conf);
 * - primary + replicas behind Sentinel (REDIS_SENTINELS=host:port,... and REDIS_SENTINEL_NAME): the client asks
 *   the sentinels for the current primary and follows failovers.
 * Redis Cluster: every key of a crossing carries the crossing's hash tag and each Lua script touches one slot,
 * but the services build a single-node client (see docs/scale-out.md).
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function parseHostPorts(list: string): { host: string; port: number }[] {
  return list.split(',').map((hp) => {
    const s = hp.trim();
    const i = s.lastIndexOf(':');
    return { host: i > 0 ? s.slice(0, i) : s, port: i > 0 ? Number(s.slice(i + 1)) : 26379 };
  });
}

export function createRedisClient(config: Pick<Config, 'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME'>, options: RedisOptions = {}): Redis {
  if (config.REDIS_SENTINELS) {
    // credentials and db of the data nodes still come from REDIS_URL when given
    const url = config.REDIS_URL ? new URL(config.REDIS_URL.split(',')[0]!) : undefined;
    return new Redis({
      ...options,
      sentinels: parseHostPorts(config.REDIS_SENTINELS),
      name: config.REDIS_SENTINEL_NAME,
      ...(url?.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url?.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url && url.pathname.length > 1 ? { db: Number(url.pathname.slice(1)) } : {}),
    });
  }
  return new Redis(config.REDIS_URL ?? DEFAULT_REDIS_URL, options);
}
