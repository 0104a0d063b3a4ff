/**
 * Every Redis key the API owns, from one builder with a versioned prefix `${prefix}:v1:api:...`.
 * Bump the version segment when a key's layout changes so old and new code never read each other's data.
 */
export function apiKeys(prefix: string) {
  const base = `${prefix}:v1:api`;
  // Subscriptions and their indexes share one hash tag so the scripts that update them together run on one
  // Redis Cluster slot; they are few, so one slot is no hot spot. Rate-limit counters and claims spread out.
  const subs = `${base}:{subs}`;
  return {
    /** Fixed-window request counter of one client (token digest or IP) for one scope (read|write). */
    rateLimit: (scope: string, clientId: string) => `${base}:rl:${scope}:${clientId}`,
    /** Hash of one webhook subscription: field `json` (SubscriptionRecord). */
    subscription: (id: string) => `${subs}:sub:${id}`,
    /** Set of every subscription id. */
    subscriptionIndex: () => `${subs}:all`,
    /** Set of the subscription ids watching one crossing. */
    subscriptionsOfCrossing: (crossingId: string) => `${subs}:crossing:${crossingId}`,
    /** Capped list (newest first) of delivery attempts of one subscription, JSON each. */
    deliveryLog: (subscriptionId: string) => `${subs}:sub:${subscriptionId}:deliveries`,
    /** Claim on one delivery id (SET NX PX): the instance holding it is the one that delivers. */
    deliveryClaim: (deliveryId: string) => `${base}:claim:${deliveryId}`,
  } as const;
}
export type ApiKeys = ReturnType<typeof apiKeys>;
