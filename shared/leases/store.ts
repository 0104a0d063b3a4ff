/**
 * Typed wrapper over the lease keys: the only code that calls the lease scripts (`lua/<name>-<numkeys>.lua`,
 * loaded with `defineCommand`). Acquire is a plain `SET NX PX`; renew and release are owner-checked scripts;
 * the heartbeat script keeps the set of live instances using Redis server time.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { leaseKeys } from './keys.ts';

const LUA_DIR = fileURLToPath(new URL('./lua/', import.meta.url));
const SCRIPTS = { heartbeat: 'kezekLeaseHeartbeat', renew: 'kezekLeaseRenew', release: 'kezekLeaseRelease' } as const;
type ScriptName = keyof typeof SCRIPTS;
const loaded = new WeakSet<Redis>();

function load(redis: Redis): void {
  if (loaded.has(redis)) return;
  for (const [name, command] of Object.entries(SCRIPTS)) {
    redis.defineCommand(command, { numberOfKeys: 1, lua: readFileSync(`${LUA_DIR}${name}-1.lua`, 'utf8') });
  }
  loaded.add(redis);
}

async function call(redis: Redis, name: ScriptName, key: string, args: (string | number)[]): Promise<unknown> {
  load(redis);
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[SCRIPTS[name]]!;
  return fn.call(redis, key, ...args);
}

export interface LeaseStore {
  /** Announces (or, with `alive = false`, withdraws) an instance; returns the live instance ids, sorted. */
  heartbeat(instanceId: string, ttlMs: number, alive?: boolean): Promise<string[]>;
  /** Takes a free lease (SET NX PX). True when the caller now owns it. */
  acquire(partition: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends the lease if the caller still owns it. */
  renew(partition: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Frees the lease if the caller owns it. */
  release(partition: string, owner: string): Promise<boolean>;
  owner(partition: string): Promise<string | null>;
  isReady(partition: string): Promise<boolean>;
  markReady(partition: string): Promise<void>;
  clearReady(partition: string): Promise<void>;
  /** A replay of the partition into this Redis has started (its consumer was re-created from the start). */
  isReplaying(partition: string): Promise<boolean>;
  markReplaying(partition: string, replaying: boolean): Promise<void>;
}

export function createLeaseStore(redis: Redis, prefix: string): LeaseStore {
  const keys = leaseKeys(prefix);
  return {
    heartbeat: async (instanceId, ttlMs, alive = true) => {
      const ids = (await call(redis, 'heartbeat', keys.instances, [instanceId, ttlMs, alive ? '1' : '0'])) as string[];
      return [...ids].sort();
    },
    acquire: async (partition, owner, ttlMs) => (await redis.set(keys.owner(partition), owner, 'PX', ttlMs, 'NX')) === 'OK',
    renew: async (partition, owner, ttlMs) => (await call(redis, 'renew', keys.owner(partition), [owner, ttlMs])) === 1,
    release: async (partition, owner) => (await call(redis, 'release', keys.owner(partition), [owner])) === 1,
    owner: (partition) => redis.get(keys.owner(partition)),
    isReady: async (partition) => (await redis.exists(keys.ready(partition))) === 1,
    markReady: async (partition) => {
      await redis.set(keys.ready(partition), new Date().toISOString());
    },
    clearReady: async (partition) => {
      await redis.del(keys.ready(partition));
    },
    isReplaying: async (partition) => (await redis.exists(keys.replaying(partition))) === 1,
    markReplaying: async (partition, replaying) => {
      if (replaying) await redis.set(keys.replaying(partition), new Date().toISOString());
      else await redis.del(keys.replaying(partition));
    },
  };
}
