/**
 * Journey: a fleet polling one crossing's waits (navigation apps, truck telematics). Each request carries the
 * ETag the VU last saw for that crossing, as a well-behaved client does, so most polls should be cheap 304s.
 * Open model (arrival rate): the fleet keeps asking at the same pace however slow the API gets.
 *
 *   k6 run test/load/poll-waits.ts                                     # smoke
 *   k6 run -e PROFILE=load -e BASE_URL=https://kezek.example test/load/poll-waits.ts
 */
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import type { Options } from 'k6/options';
import { BASE_URL, PROFILE, SCALE, profile, readHeaders } from './lib/config.ts';
import { API, commonOptions, commonThresholds, discoverTarget, handleSummaryFor, headerValue, isWaitsBody, jsonBody, rateLimited, requireReady, type Target } from './lib/checks.ts';
import { arrivalRateScenario, type ProfileName } from './lib/profiles.ts';

export const JOURNEY = 'poll-waits';

/** Share of polls answered 304 Not Modified: how much the ETag saves. Reported, not a verdict. */
const notModified = new Rate('waits_not_modified');

/** Polls per second at the nominal production peak (~6000 clients polling once a minute). */
const NOMINAL_RPS = 100;

export function buildOptions(p: ProfileName): Options {
  return {
    ...commonOptions,
    scenarios: {
      [JOURNEY]: arrivalRateScenario(profile(p), { exec: 'pollWaits', nominalPerSecond: NOMINAL_RPS * SCALE, maxVUs: 300, tags: { journey: JOURNEY } }),
    },
    // Served from the API's in-process view: no Redis round trip, so the budget is tight.
    thresholds: commonThresholds({ p95Ms: 100, p99Ms: 250 }),
  };
}

export const options = buildOptions(PROFILE);

export function setup(): Target {
  requireReady();
  return discoverTarget();
}

/** Last ETag this VU saw per crossing (each VU has its own copy of module state). */
const etags: Record<string, string> = {};

export function pollWaits(target: Target): void {
  const crossingId = target.crossingIds[exec.scenario.iterationInTest % target.crossingIds.length] as string;
  const sentEtag = etags[crossingId];
  const res = http.get(`${BASE_URL}/v1/crossings/${encodeURIComponent(crossingId)}/waits`, {
    headers: readHeaders(sentEtag ? { 'If-None-Match': sentEtag } : {}),
    tags: { name: 'GET /v1/crossings/:id/waits', kind: API },
  });
  rateLimited.add(res.status === 429);
  notModified.add(res.status === 304);
  const etag = headerValue(res, 'ETag');
  check(res, {
    'waits: 200 or 304': (r) => r.status === 200 || r.status === 304,
    'waits: 200 carries an ETag and every queue': (r) => r.status !== 200 || (etag !== undefined && isWaitsBody(jsonBody(r), crossingId)),
    'waits: 304 only answers an If-None-Match': (r) => r.status !== 304 || sentEtag !== undefined,
  });
  if (res.status === 200 && etag) etags[crossingId] = etag;
}

export default pollWaits;

export const handleSummary = handleSummaryFor(JOURNEY, PROFILE);
