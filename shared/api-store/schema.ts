/** Shapes the API store keeps in Redis, validated when read back (a Redis reply is a boundary too). */
import { z } from 'zod';
import { VehicleClassSchema } from '../catalogue/schema.ts';

export const SubscriptionRecordSchema = z.object({
  id: z.string(),
  /** Digest of the token that created it (never the token); only the owner (or an admin) sees it. */
  owner: z.string(),
  url: z.string(),
  crossingId: z.string(),
  direction: z.string().nullable(),
  vehicleClass: VehicleClassSchema.nullable(),
  waitAboveSeconds: z.number().nullable(),
  onClosure: z.boolean(),
  /** HMAC key for Kezek-Signature. Shown to the client once, at creation. */
  secret: z.string(),
  createdAt: z.string(),
});
export type SubscriptionRecord = z.infer<typeof SubscriptionRecordSchema>;

export const DeliveryAttemptSchema = z.object({
  deliveryId: z.string(),
  subscriptionId: z.string(),
  attempt: z.number().int().min(1),
  at: z.string(),
  /** 'delivered' (2xx), 'failed' (will retry), 'gave_up' (last attempt failed). */
  outcome: z.enum(['delivered', 'failed', 'gave_up']),
  statusCode: z.number().int().nullable(),
  error: z.string().nullable(),
  durationMs: z.number().min(0),
  rule: z.enum(['wait_above', 'closure']),
});
export type DeliveryAttempt = z.infer<typeof DeliveryAttemptSchema>;
