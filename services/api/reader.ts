/**
 * The API's QueueReader: the estimator's queue store used read-only, with the same estimation model so that
 * `asOf` queries give the estimate a vehicle joining at that instant would have been given.
 */
import type { Redis } from 'ioredis';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import { computeEstimate } from '../../shared/estimation/model.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';

export function createApiReader(deps: { redis: Redis; prefix: string; catalogue: Catalogue; staleAfterSeconds: number; now?: () => number }): QueueStore {
  const now = deps.now ?? Date.now;
  return createQueueStore({
    redis: deps.redis,
    prefix: deps.prefix,
    model: (window) => {
      const q = window.queue;
      const profile = deps.catalogue.profile(q.crossingId, q.vehicleClass);
      const localZone = deps.catalogue.localZone(q.crossingId);
      if (!profile || !localZone) throw new Error(`queue ${q.crossingId}/${q.direction}/${q.vehicleClass} is not in the catalogue`);
      return computeEstimate(window, { profile, localZone, staleAfterMs: deps.staleAfterSeconds * 1000, nowMs: now(), revision: 0 });
    },
  });
}
