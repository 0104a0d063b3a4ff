/**
 * Journey: live dashboards. Each VU is one open dashboard: it loads the crossing's waits once, then holds the
 * Server-Sent Events stream (`GET /v1/stream?crossingId=`) for the profile's hold time, hangs up and starts
 * over (a user closing the tab and another opening it). Closed model: a fixed population of open streams.
 *
 * How the stream is held, honestly: k6 has no EventSource and its `http` module has no streaming reads (the
 * `k6/experimental/streams` module is only the ReadableStream class, not a streaming fetch). So each stream
 * is an `http.get` with `timeout` = hold time and `responseType: 'text'`. When the timeout fires, k6 ends the
 * request with error code 1050 (request timeout), status 0, and keeps the body received so far (k6's
 * readResponseBody returns the partial buffer with the error); the script counts `event:` blocks and heartbeat
 * comments in it. Consequences:
 * - events are counted after the hang-up, not as they arrive: per-event delivery latency cannot be measured
 *   here (the ingest journey's `event_to_estimate_ms` measures freshness through polling instead);
 * - a held stream is a "failed" request to k6 (status 0): it is tagged `kind:stream`, kept out of the
 *   `http_req_failed{kind:api}` verdict and judged by `sse_streams_held` instead, and k6 prints one
 *   "Request Failed ... request timeout" warning per stream, which is expected;
 * - `sse_first_byte_ms` is the time to the response headers (k6 `timings.waiting`).
 *
 *   k6 run test/load/sse-dashboards.ts                                 # smoke
 *   k6 run -e PROFILE=load -e BASE_URL=https://kezek.example test/load/sse-dashboards.ts
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { BASE_URL, PROFILE, SCALE, positiveNumber, profile, readHeaders, streamHeaders } from './lib/config.ts';
import { API, commonOptions, commonThresholds, discoverTarget, handleSummaryFor, isWaitsBody, jsonBody, rateLimited, requireReady, type Target } from './lib/checks.ts';
import { vuScenario, type ProfileName } from './lib/profiles.ts';
import { tallyStream } from './lib/sse.ts';

export const JOURNEY = 'sse-dashboards';

/** Open dashboards at the nominal peak. */
const NOMINAL_STREAMS = 200;
/** The API's heartbeat period; a stream held longer than this must show at least a heartbeat. */
const HEARTBEAT_SECONDS = positiveNumber('SSE_HEARTBEAT_SECONDS', 15);
/** k6's error code for a request that hit its `timeout`: here, our own hang-up. */
const K6_REQUEST_TIMEOUT = 1050;
const STREAM = 'stream';

const streamsHeld = new Rate('sse_streams_held');
const streamsAlive = new Rate('sse_streams_alive');
const firstByte = new Trend('sse_first_byte_ms', true);
const estimates = new Counter('sse_estimates');
const heartbeats = new Counter('sse_heartbeats');

/** SSE_HOLD_SECONDS overrides the profile's hold time. */
const holdSeconds = (p: ProfileName): number => positiveNumber('SSE_HOLD_SECONDS', profile(p).streamHoldSeconds);

export function buildOptions(p: ProfileName): Options {
  const hold = holdSeconds(p);
  return {
    ...commonOptions,
    scenarios: {
      [JOURNEY]: vuScenario(profile(p), { exec: 'dashboard', nominalVUs: NOMINAL_STREAMS * SCALE, holdSeconds: hold, tags: { journey: JOURNEY } }),
    },
    thresholds: {
      ...commonThresholds({ p95Ms: 100, p99Ms: 250 }),
      sse_streams_held: ['rate>0.99'],
      sse_first_byte_ms: ['p(95)<500', 'p(99)<1000'],
      ...(hold > HEARTBEAT_SECONDS ? { sse_streams_alive: ['rate>0.99'] } : {}),
    },
  };
}

export const options = buildOptions(PROFILE);

export interface SseSetup extends Target {
  holdSeconds: number;
}

/** For entries with a fixed profile (the smoke script), so the hold time matches the options they export. */
export function setupFor(p: ProfileName): () => SseSetup {
  return () => {
    requireReady();
    return { ...discoverTarget(), holdSeconds: holdSeconds(p) };
  };
}

export const setup = setupFor(PROFILE);

export function dashboard(data: SseSetup): void {
  const crossingId = data.crossingIds[exec.vu.idInTest % data.crossingIds.length] as string;

  const initial = http.get(`${BASE_URL}/v1/crossings/${encodeURIComponent(crossingId)}/waits`, {
    headers: readHeaders(),
    tags: { name: 'GET /v1/crossings/:id/waits', kind: API },
  });
  rateLimited.add(initial.status === 429);
  check(initial, { 'dashboard: initial waits 200 with every queue': (r) => r.status === 200 && isWaitsBody(jsonBody(r), crossingId) });

  const res = http.get(`${BASE_URL}/v1/stream?crossingId=${encodeURIComponent(crossingId)}`, {
    headers: streamHeaders(),
    timeout: `${data.holdSeconds}s`,
    responseType: 'text',
    tags: { name: 'GET /v1/stream', kind: STREAM },
  });
  rateLimited.add(res.status === 429);
  const opened = res.timings.receiving > 0;
  const held = res.error_code === K6_REQUEST_TIMEOUT && opened;
  const tally = tallyStream(typeof res.body === 'string' ? res.body : '');
  streamsHeld.add(held);
  if (opened) firstByte.add(res.timings.waiting);
  estimates.add(tally.validEstimates);
  heartbeats.add(tally.heartbeats);
  const expectAlive = data.holdSeconds > HEARTBEAT_SECONDS;
  if (held && expectAlive) streamsAlive.add(tally.eventCount + tally.heartbeats > 0);
  check(res, {
    'stream: held open until the client hung up': () => held,
    'stream: every complete estimate event is a JSON estimate': () => (tally.events.estimate ?? 0) === tally.validEstimates,
  });
  // A browser's EventSource waits ~3 s before reconnecting after an error; do not hammer a failing API.
  if (!held) sleep(3);
}

export default dashboard;

export const handleSummary = handleSummaryFor(JOURNEY, PROFILE);
