/**
 * The API's QueueReader: the estimator's queue store used read-only, with the same estimation model so that
 * `asOf` queries give the estimate a vehicle joining at that instant would have been given.
 */
import type { Redis } from 'ioredis';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { computeEstimate } from '../../shared/estimation/model.ts';
import type { QueueWindow } from '../../shared/estimation/window.ts';
import { createQueueStore, type QueueStore } from '../../shared/queue-store/store.ts';

export interface ApiReaderModelDeps {
  catalogue: Catalogue;
  staleAfterSeconds: number;
  /** STALE_QUIET_MAX_SECONDS: the same cap on a quiet queue's staleAt as the estimator's (staleness.ts default when absent). */
  maxSilenceSeconds?: number;
  now?: () => number;
}

/** The model `estimateAsOf` runs: the estimator's, with the estimator's staleness settings (exported for tests). */
export function apiReaderModel(deps: ApiReaderModelDeps): (window: QueueWindow) => QueueEstimate {
  const now = deps.now ?? Date.now;
  const staleAfterMs = deps.staleAfterSeconds * 1000;
  const maxSilenceMs = deps.maxSilenceSeconds === undefined ? undefined : deps.maxSilenceSeconds * 1000;
  return (window) => {
    const q = window.queue;
    const profile = deps.catalogue.profile(q.crossingId, q.vehicleClass);
    const localZone = deps.catalogue.localZone(q.crossingId);
    if (!profile || !localZone) throw new Error(`queue ${q.crossingId}/${q.direction}/${q.vehicleClass} is not in the catalogue`);
    return computeEstimate(window, { profile, localZone, staleAfterMs, maxSilenceMs, nowMs: now(), revision: 0 });
  };
}

export function createApiReader(deps: ApiReaderModelDeps & { redis: Redis; prefix: string }): QueueStore {
  return createQueueStore({ redis: deps.redis, prefix: deps.prefix, model: apiReaderModel(deps) });
}
