/**
 * Journey: dispatch and logistics systems pulling every queue of every crossing at once (`GET /v1/waits`),
 * revalidating with the ETag of their previous pull. Fewer clients than the fleet, much larger bodies.
 *
 *   k6 run test/load/bulk-view.ts                                      # smoke
 *   k6 run -e PROFILE=stress -e BASE_URL=https://kezek.example test/load/bulk-view.ts
 */
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { BASE_URL, PROFILE, SCALE, profile, readHeaders } from './lib/config.ts';
import { API, commonOptions, commonThresholds, discoverTarget, handleSummaryFor, headerValue, isBulkBody, jsonBody, rateLimited, requireReady, type Target } from './lib/checks.ts';
import { arrivalRateScenario, type ProfileName } from './lib/profiles.ts';

export const JOURNEY = 'bulk-view';

/** Share of bulk pulls answered 304 Not Modified. Reported, not a verdict. */
const notModified = new Rate('bulk_not_modified');

/** Bulk pulls per second at the nominal peak (~300 dispatch systems refreshing every 30 s). */
const NOMINAL_RPS = 10;

export function buildOptions(p: ProfileName): Options {
  return {
    ...commonOptions,
    scenarios: {
      [JOURNEY]: arrivalRateScenario(profile(p), { exec: 'bulkView', nominalPerSecond: NOMINAL_RPS * SCALE, maxVUs: 100, tags: { journey: JOURNEY } }),
    },
    // Precomputed body like the per-crossing view, but tens of KiB: transfer time dominates.
    thresholds: commonThresholds({ p95Ms: 250, p99Ms: 500 }),
  };
}

export const options = buildOptions(PROFILE);

export function setup(): Target {
  requireReady();
  return discoverTarget();
}

/** ETag of this VU's last full pull. */
let lastEtag: string | undefined;

export function bulkView(target: Target): void {
  const sentEtag = lastEtag;
  const res = http.get(`${BASE_URL}/v1/waits`, {
    headers: readHeaders(sentEtag ? { 'If-None-Match': sentEtag } : {}),
    tags: { name: 'GET /v1/waits', kind: API },
  });
  rateLimited.add(res.status === 429);
  notModified.add(res.status === 304);
  const etag = headerValue(res, 'ETag');
  check(res, {
    'bulk: 200 or 304': (r) => r.status === 200 || r.status === 304,
    'bulk: 200 carries an ETag and every crossing it discovered': (r) => {
      if (r.status !== 200) return true;
      const body = jsonBody(r);
      if (etag === undefined || !isBulkBody(body)) return false;
      const ids = body.crossings.map((c) => c.crossingId);
      return target.crossingIds.every((id) => ids.indexOf(id) >= 0);
    },
    'bulk: 304 only answers an If-None-Match': (r) => r.status !== 304 || sentEtag !== undefined,
  });
  if (res.status === 200 && etag) lastEtag = etag;
}

export default bulkView;

export const handleSummary = handleSummaryFor(JOURNEY, PROFILE);
