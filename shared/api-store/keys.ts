/**
 * Every Redis key the API owns, from one builder with a versioned prefix `${prefix}:v1:api:...`.
 * Bump the version segment when a key's layout changes so old and new code never read each other's data.
 */
export function apiKeys(prefix: string) {
  const base = `${prefix}:v1:api`;
  return {
    /** Fixed-window request counter of one client (token digest or IP) for one scope (read|write). */
    rateLimit: (scope: string, clientId: string) => `${base}:rl:${scope}:${clientId}`,
    /** Hash of one webhook subscription: field `json` (SubscriptionRecord). */
    subscription: (id: string) => `${base}:sub:${id}`,
    /** Set of every subscription id. */
    subscriptionIndex: () => `${base}:subs`,
    /** Set of the subscription ids watching one crossing. */
    subscriptionsOfCrossing: (crossingId: string) => `${base}:subs:crossing:${crossingId}`,
    /** Capped list (newest first) of delivery attempts of one subscription, JSON each. */
    deliveryLog: (subscriptionId: string) => `${base}:sub:${subscriptionId}:deliveries`,
    /** Claim on one delivery id (SET NX PX): the instance holding it is the one that delivers. */
    deliveryClaim: (deliveryId: string) => `${base}:claim:${deliveryId}`,
  } as const;
}
export type ApiKeys = ReturnType<typeof apiKeys>;
