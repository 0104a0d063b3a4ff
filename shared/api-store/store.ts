/**
 * The typed wrapper around the API's Redis state (rate limits, webhook subscriptions, delivery log, delivery
 * claims). The only code that runs the Lua scripts in ./lua; callers never see keys or raw replies.
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { apiKeys } from './keys.ts';
import { DeliveryAttemptSchema, SubscriptionRecordSchema, type DeliveryAttempt, type SubscriptionRecord } from './schema.ts';

export * from './schema.ts';
export { apiKeys } from './keys.ts';

const SCRIPTS = ['rateLimitHit-1', 'addSubscription-3', 'removeSubscription-4', 'recordDelivery-1'] as const;
type ScriptName = (typeof SCRIPTS)[number];

const lua = (name: ScriptName) => readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
const commandName = (name: ScriptName) => `kezekApi_${name.replace(/-\d+$/, '')}`;

/** Defines every script once per client (ioredis caches by SHA and falls back to EVAL). */
function loadScripts(redis: Redis): void {
  for (const name of SCRIPTS) {
    const cmd = commandName(name);
    if (typeof (redis as unknown as Record<string, unknown>)[cmd] === 'function') continue;
    redis.defineCommand(cmd, { numberOfKeys: Number(name.split('-').pop()), lua: lua(name) });
  }
}

type Runner = (...args: (string | number)[]) => Promise<unknown>;
function run(redis: Redis, name: ScriptName): Runner {
  return (...args) => (redis as unknown as Record<string, Runner>)[commandName(name)]!(...args);
}

export class ApiStoreError extends Error {
  constructor(
    readonly code: 'SUBSCRIPTION_EXISTS' | 'SUBSCRIPTION_NOT_FOUND' | 'SUBSCRIPTION_FORBIDDEN' | 'BAD_REPLY',
    message: string,
  ) {
    super(message);
  }
}

/** Maps a script's numeric return code to a typed error (or nothing for success). */
function codeToError(script: ScriptName, code: number): ApiStoreError | undefined {
  if (script === 'addSubscription-3' && code === -1) return new ApiStoreError('SUBSCRIPTION_EXISTS', 'subscription id already exists');
  if (script === 'removeSubscription-4' && code === 0) return new ApiStoreError('SUBSCRIPTION_NOT_FOUND', 'no such subscription');
  if (script === 'removeSubscription-4' && code === -2) return new ApiStoreError('SUBSCRIPTION_FORBIDDEN', 'subscription belongs to another client');
  return undefined;
}

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetMs: number;
}

export const DELIVERY_LOG_MAX = 100;
const DELIVERY_LOG_TTL_MS = 30 * 24 * 3600_000;

export interface ApiStore {
  rateLimitHit(scope: 'read' | 'write', clientId: string, limit: number, windowMs: number): Promise<RateLimitResult>;
  addSubscription(rec: SubscriptionRecord): Promise<void>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  /** All subscriptions, or those of one owner. */
  listSubscriptions(owner?: string): Promise<SubscriptionRecord[]>;
  subscriptionsOfCrossing(crossingId: string): Promise<SubscriptionRecord[]>;
  /** Throws ApiStoreError SUBSCRIPTION_NOT_FOUND / SUBSCRIPTION_FORBIDDEN. `owner: '*'` = admin. */
  removeSubscription(id: string, crossingId: string, owner: string): Promise<void>;
  recordDelivery(attempt: DeliveryAttempt): Promise<void>;
  /** Newest first. */
  deliveries(subscriptionId: string, limit?: number): Promise<DeliveryAttempt[]>;
  /** True for exactly one caller per delivery id while the claim lives. */
  claimDelivery(deliveryId: string, ttlMs: number): Promise<boolean>;
}

export function createApiStore(deps: { redis: Redis; prefix: string }): ApiStore {
  const { redis } = deps;
  const keys = apiKeys(deps.prefix);
  loadScripts(redis);
  const rateLimit = run(redis, 'rateLimitHit-1');
  const add = run(redis, 'addSubscription-3');
  const remove = run(redis, 'removeSubscription-4');
  const record = run(redis, 'recordDelivery-1');

  const parseSubs = (raws: (string | null)[]): SubscriptionRecord[] =>
    raws.flatMap((raw) => {
      if (!raw) return [];
      const res = SubscriptionRecordSchema.safeParse(JSON.parse(raw));
      return res.success ? [res.data] : [];
    });

  const readMany = async (ids: string[]): Promise<SubscriptionRecord[]> => {
    if (ids.length === 0) return [];
    const pipe = redis.pipeline();
    for (const id of ids) pipe.hget(keys.subscription(id), 'json');
    const replies = (await pipe.exec()) ?? [];
    return parseSubs(replies.map(([err, v]) => (err ? null : (v as string | null)))).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  };

  return {
    async rateLimitHit(scope, clientId, limit, windowMs) {
      const reply = (await rateLimit(keys.rateLimit(scope, clientId), limit, windowMs)) as unknown;
      if (!Array.isArray(reply) || reply.length !== 3) throw new ApiStoreError('BAD_REPLY', 'rateLimitHit: unexpected reply');
      const [allowed, count, resetMs] = reply.map(Number) as [number, number, number];
      return { allowed: allowed === 1, limit, remaining: Math.max(0, limit - count), resetMs: Math.max(0, resetMs) };
    },
    async addSubscription(rec) {
      const code = Number(await add(keys.subscription(rec.id), keys.subscriptionIndex(), keys.subscriptionsOfCrossing(rec.crossingId), rec.id, JSON.stringify(rec)));
      const err = codeToError('addSubscription-3', code);
      if (err) throw err;
    },
    async getSubscription(id) {
      return parseSubs([await redis.hget(keys.subscription(id), 'json')])[0];
    },
    async listSubscriptions(owner) {
      const all = await readMany(await redis.smembers(keys.subscriptionIndex()));
      return owner === undefined ? all : all.filter((s) => s.owner === owner);
    },
    async subscriptionsOfCrossing(crossingId) {
      return readMany(await redis.smembers(keys.subscriptionsOfCrossing(crossingId)));
    },
    async removeSubscription(id, crossingId, owner) {
      const code = Number(await remove(keys.subscription(id), keys.subscriptionIndex(), keys.subscriptionsOfCrossing(crossingId), keys.deliveryLog(id), id, owner));
      const err = codeToError('removeSubscription-4', code);
      if (err) throw err;
    },
    async recordDelivery(attempt) {
      await record(keys.deliveryLog(attempt.subscriptionId), JSON.stringify(attempt), DELIVERY_LOG_MAX, DELIVERY_LOG_TTL_MS);
    },
    async deliveries(subscriptionId, limit = DELIVERY_LOG_MAX) {
      const raws = await redis.lrange(keys.deliveryLog(subscriptionId), 0, limit - 1);
      return raws.flatMap((raw) => {
        const res = DeliveryAttemptSchema.safeParse(JSON.parse(raw));
        return res.success ? [res.data] : [];
      });
    },
    async claimDelivery(deliveryId, ttlMs) {
      return (await redis.set(keys.deliveryClaim(deliveryId), '1', 'PX', ttlMs, 'NX')) === 'OK';
    },
  };
}
