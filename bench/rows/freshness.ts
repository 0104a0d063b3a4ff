import type { Harness } from '../lib/harness.ts';
import type { ResultRow } from '../lib/stats.ts';
export async function freshnessRow(_h: Harness): Promise<ResultRow[]> {
  throw new Error('not implemented yet');
}
