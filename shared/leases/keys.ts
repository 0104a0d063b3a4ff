/**
 * The one builder of the lease keys (layout v1, next to the queue store's keys):
 *
 *   <prefix>:v1:leases:instances             ZSET    live estimator instances, score = heartbeat expiry (ms)
 *   <prefix>:v1:leases:{<partition>}:owner   STRING  owner instance id of one partition, PX = lease time
 *   <prefix>:v1:leases:{<partition>}:ready   STRING  the partition was replayed into this Redis (absent after data loss)
 *   <prefix>:v1:leases:{<partition>}:replaying  STRING  a replay into this Redis started: a later owner resumes it
 *
 * A partition is a crossing id. Its keys carry the crossing's hash tag, so on Redis Cluster the ownership and the
 * ready marker live in the same slot (the same node) as the crossing's state they vouch for: if that node loses its
 * data, the marker goes with it and the owner replays the partition. Every script touches exactly one key.
 */
export function leaseKeys(prefix: string) {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) throw new RangeError(`invalid key prefix "${prefix}"`);
  const base = `${prefix}:v1:leases`;
  return {
    instances: `${base}:instances`,
    owner: (partition: string) => `${base}:{${partition}}:owner`,
    ready: (partition: string) => `${base}:{${partition}}:ready`,
    replaying: (partition: string) => `${base}:{${partition}}:replaying`,
  } as const;
}
export type LeaseKeys = ReturnType<typeof leaseKeys>;
