/**
 * Webhook delivery worker. Watches estimate changes from the in-process view and, for every subscription whose
 * rule fires (wait crossed its threshold upward, or the queue closed), POSTs a signed JSON body:
 *   Kezek-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, `${t}.${body}`)>
 *   Kezek-Delivery-Id: <id>
 * Retries with exponential backoff up to `maxAttempts`, recording every attempt in the delivery log (Redis).
 * Several API instances see the same changes; the delivery id is derived from (subscription, queue, revision,
 * rule), and only the instance that wins the Redis claim (SET NX PX) delivers it.
 */
import { createHash, createHmac } from 'node:crypto';
import type { ApiStore, DeliveryAttempt, SubscriptionRecord } from '../../shared/api-store/store.ts';
import { queueKey, type QueueEstimate } from '../../shared/estimates.ts';
import type { Logger } from '../../shared/logger.ts';
import type { EstimateChange, EstimatesView } from './view.ts';
import { PrivateTargetError, postWebhook } from './egress.ts';

export interface WebhookOptions {
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  timeoutMs: number;
  /** How long a claim keeps other instances from delivering the same id (covers all retries). */
  claimTtlMs: number;
  /** How long the per-crossing subscription list is cached. */
  subscriptionCacheMs: number;
  concurrency: number;
  /** Deliver to loopback / private / link-local addresses too (egress.ts; WEBHOOK_PRIVATE_TARGETS=on). */
  allowPrivateTargets: boolean;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = {
  maxAttempts: 6,
  baseDelayMs: 2_000,
  maxDelayMs: 5 * 60_000,
  timeoutMs: 10_000,
  claimTtlMs: 24 * 3600_000,
  subscriptionCacheMs: 2_000,
  concurrency: 8,
  allowPrivateTargets: false,
};

export type Rule = DeliveryAttempt['rule'];

/** The signature header value for a body at unix time t. Receivers recompute it with their secret. */
export function signWebhook(secret: string, t: number, body: string): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** Which rules a change fires for a subscription (pure; exported for tests). */
export function firedRules(sub: SubscriptionRecord, prev: QueueEstimate | undefined, next: QueueEstimate): Rule[] {
  if (sub.crossingId !== next.crossingId) return [];
  if (sub.direction !== null && sub.direction !== next.direction) return [];
  if (sub.vehicleClass !== null && sub.vehicleClass !== next.vehicleClass) return [];
  const out: Rule[] = [];
  const th = sub.waitAboveSeconds;
  if (th !== null && next.waitSeconds !== null && next.waitSeconds > th && !(prev?.waitSeconds != null && prev.waitSeconds > th)) out.push('wait_above');
  if (sub.onClosure && next.status === 'closed' && prev?.status !== 'closed') out.push('closure');
  return out;
}

export const deliveryIdFor = (subId: string, est: QueueEstimate, rule: Rule): string =>
  `dlv_${createHash('sha256').update(`${subId}|${queueKey(est)}|${est.revision}|${est.asOf}|${rule}`).digest('base64url').slice(0, 24)}`;

export interface WebhookWorker {
  start(): void;
  /** Stops new deliveries and retries, waits for in-flight attempts. Idempotent. */
  close(): Promise<void>;
  /** Resolves when nothing is queued or in flight (tests). */
  idle(): Promise<void>;
  /** Forget cached subscription lists (after a local create/delete). */
  invalidate(crossingId: string): void;
}

export function createWebhookWorker(deps: { view: EstimatesView; store: ApiStore; logger: Logger; options?: Partial<WebhookOptions>; now?: () => number }): WebhookWorker {
  const opts = { ...DEFAULT_WEBHOOK_OPTIONS, ...deps.options };
  const now = deps.now ?? Date.now;
  const log = deps.logger.child({ component: 'webhooks' });
  const cache = new Map<string, { at: number; subs: Promise<SubscriptionRecord[]> }>();
  const timers = new Set<NodeJS.Timeout>();
  const queue: (() => Promise<void>)[] = [];
  let running = 0;
  let closed = false;
  let unsubscribe: (() => void) | undefined;
  let idleWaiters: (() => void)[] = [];

  const subsOf = (crossingId: string): Promise<SubscriptionRecord[]> => {
    const hit = cache.get(crossingId);
    if (hit && now() - hit.at < opts.subscriptionCacheMs) return hit.subs;
    const subs = deps.store.subscriptionsOfCrossing(crossingId);
    cache.set(crossingId, { at: now(), subs });
    subs.catch(() => cache.delete(crossingId));
    return subs;
  };

  const checkIdle = () => {
    if (running === 0 && queue.length === 0 && timers.size === 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      ws.forEach((w) => w());
    }
  };
  const pump = () => {
    while (!closed && running < opts.concurrency && queue.length > 0) {
      const job = queue.shift()!;
      running++;
      void job()
        .catch((err: unknown) => log.error({ err }, 'webhook job failed'))
        .finally(() => {
          running--;
          pump();
          checkIdle();
        });
    }
    checkIdle();
  };
  const enqueue = (job: () => Promise<void>) => {
    if (closed) return;
    queue.push(job);
    pump();
  };

  async function attempt(sub: SubscriptionRecord, deliveryId: string, rule: Rule, body: string, n: number): Promise<void> {
    const t = Math.floor(now() / 1000);
    const started = Date.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    /** A non-public target (egress.ts): not tried again, it is refused the same way until its DNS changes. */
    let refused = false;
    try {
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'kezek-webhooks/1',
        'kezek-signature': signWebhook(sub.secret, t, body),
        'kezek-delivery-id': deliveryId,
        'kezek-attempt': String(n),
      };
      statusCode = await postWebhook(sub.url, headers, body, { timeoutMs: opts.timeoutMs, allowPrivate: opts.allowPrivateTargets });
    } catch (err) {
      const e = err as Error & { code?: string };
      refused = e instanceof PrivateTargetError;
      error = e.name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : refused ? `refused: ${e.message}` : (e.code ?? e.message);
    }
    const ok = statusCode !== null && statusCode >= 200 && statusCode < 300;
    const last = n >= opts.maxAttempts || refused;
    const outcome: DeliveryAttempt['outcome'] = ok ? 'delivered' : last ? 'gave_up' : 'failed';
    if (!ok && error === null) error = `receiver answered ${statusCode}`;
    await deps.store
      .recordDelivery({ deliveryId, subscriptionId: sub.id, attempt: n, at: new Date(now()).toISOString(), outcome, statusCode, error, durationMs: Date.now() - started, rule })
      .catch((err: unknown) => log.warn({ err: { message: (err as Error).message } }, 'could not record delivery attempt'));
    if (ok || last || closed) {
      if (!ok) log.warn({ deliveryId, subscriptionId: sub.id, attempts: n }, 'webhook delivery gave up');
      return;
    }
    const delay = Math.min(opts.maxDelayMs, opts.baseDelayMs * 2 ** (n - 1));
    const timer = setTimeout(() => {
      timers.delete(timer);
      enqueue(() => attempt(sub, deliveryId, rule, body, n + 1));
    }, delay);
    timers.add(timer);
  }

  async function onChange({ prev, next }: EstimateChange): Promise<void> {
    const subs = await subsOf(next.crossingId);
    for (const sub of subs) {
      for (const rule of firedRules(sub, prev, next)) {
        const deliveryId = deliveryIdFor(sub.id, next, rule);
        if (!(await deps.store.claimDelivery(deliveryId, opts.claimTtlMs))) continue; // another instance has it
        const body = JSON.stringify({
          deliveryId,
          subscriptionId: sub.id,
          rule,
          crossingId: next.crossingId,
          direction: next.direction,
          vehicleClass: next.vehicleClass,
          threshold: rule === 'wait_above' ? sub.waitAboveSeconds : null,
          previous: prev ? { status: prev.status, waitSeconds: prev.waitSeconds } : null,
          estimate: next,
          sentAt: new Date(now()).toISOString(),
        });
        enqueue(() => attempt(sub, deliveryId, rule, body, 1));
      }
    }
  }

  return {
    start() {
      if (unsubscribe || closed) return;
      unsubscribe = deps.view.onChange((change) => enqueue(() => onChange(change)));
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      for (const t of timers) clearTimeout(t);
      timers.clear();
      queue.length = 0;
      while (running > 0) await new Promise((r) => setTimeout(r, 20));
      checkIdle();
    },
    idle() {
      if (running === 0 && queue.length === 0 && timers.size === 0) return Promise.resolve();
      return new Promise((r) => idleWaiters.push(r));
    },
    invalidate(crossingId) {
      cache.delete(crossingId);
    },
  };
}
