/**
 * A canonical, order-normalised dump of the queue store's keys under a prefix (or one crossing): used by the
 * order-independence tests and handy when debugging state. Not for production paths (it SCANs).
 */
import type { Redis } from 'ioredis';

export type DumpValue = string | string[] | Record<string, string> | [string, string][];

/** Every key matching `<root>:*` (root e.g. `kezek:v1` or `kezek:v1:{korday}`), sorted, with normalised values. */
export async function dumpKeys(redis: Redis, root: string, opts: { exclude?: RegExp } = {}): Promise<Record<string, DumpValue>> {
  const names: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${root.replace(/[[\]{}*?]/g, '\\$&')}:*`, 'COUNT', 1000);
    cursor = next;
    names.push(...batch);
  } while (cursor !== '0');
  const out: Record<string, DumpValue> = {};
  for (const key of names.sort()) {
    if (opts.exclude?.test(key)) continue;
    const type = await redis.type(key);
    if (type === 'string') out[key] = (await redis.get(key)) ?? '';
    else if (type === 'hash') {
      const h = await redis.hgetall(key);
      out[key] = Object.fromEntries(Object.entries(h).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    } else if (type === 'zset') {
      const flat: string[] = await redis.zrange(key, '0', '-1', 'WITHSCORES');
      const pairs: [string, string][] = [];
      for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
      out[key] = pairs;
    } else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
    else out[key] = `<${type}>`;
  }
  return out;
}
