/**
 * What the rest of the system may ask of the queue store (Redis). Implemented in shared/queue-store/store.ts
 * by the estimator's owners; the API depends only on this interface.
 */
import type { QueueEstimate } from '../estimates.ts';
import type { VehicleClass } from '../catalogue/schema.ts';

export interface QueueRef {
  crossingId: string;
  direction: string;
  vehicleClass: VehicleClass;
}

export interface HistoryPoint {
  /** Bucket start, epoch ms (event time). */
  t: number;
  queueLength: number | null;
  lanesOpen: number | null;
  status: 'open' | 'closed' | 'restricted' | null;
  waitSeconds: number | null;
  waitP10Seconds: number | null;
  waitP90Seconds: number | null;
  /** Mean realised wait of vehicles that entered service in the bucket. */
  realisedWaitSeconds: number | null;
  arrivals: number;
  served: number;
}

export interface QueueReader {
  /** Latest published estimate of every queue that has one (for the API's in-process view at boot). */
  readAllEstimates(): Promise<QueueEstimate[]>;
  /** Estimate for a vehicle joining at `asOfMs`, from the state reached by events up to that time. */
  estimateAsOf(queue: QueueRef, asOfMs: number): Promise<QueueEstimate>;
  /** Downsampled series in event time, buckets of `stepMs` (a multiple of the stored resolution). */
  readHistory(queue: QueueRef, fromMs: number, toMs: number, stepMs: number): Promise<HistoryPoint[]>;
  /** True when the store holds the marker written by the estimator after (re)building; false after data loss. */
  isInitialised(): Promise<boolean>;
}
