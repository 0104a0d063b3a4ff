/**
 * Journey: producers (border-post gateways, camera counters, the mobile app backend) posting batches of
 * contract events, plus one probe VU measuring how long an event takes to show up in the published estimate.
 *
 * - `producers` (open model): POST /v1/events with BATCH_SIZE (default 100) events with unique ids, made of
 *   whole vehicle lifecycles; expects 202 with every event accepted and none counted as a duplicate.
 * - `freshness` (one VU): posts a `queue.observed` with a distinctive queue length on the probe queue (never
 *   used by the producers), then polls that crossing's waits until the estimate shows it. The delay, from
 *   sending the POST to the first poll that shows it, is the `event_to_estimate_ms` trend: API -> JetStream ->
 *   estimator -> Redis + estimates stream -> the API's in-process view. Poll interval PROBE_POLL_MS (200)
 *   bounds its resolution.
 *
 * This journey WRITES to the target: run it against a test deployment, never production.
 *
 *   k6 run -e PRODUCER_TOKEN=... test/load/ingest.ts
 */
import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import { Rate, Trend } from 'k6/metrics';
import type { Options } from 'k6/options';
import { BASE_URL, PROFILE, SCALE, env, hasProducerToken, positiveNumber, producerHeaders, profile, readHeaders } from './lib/config.ts';
import { API, commonOptions, commonThresholds, discoverTarget, handleSummaryFor, headerValue, isRecord, isWaitsBody, jsonBody, rateLimited, requireReady, type QueueRef, type Target } from './lib/checks.ts';
import { buildBatch, buildProbe, newRunId, reflectsProbe, type LoadEvent } from './lib/events.ts';
import { arrivalRateScenario, probeScenario, type ProfileName } from './lib/profiles.ts';

export const JOURNEY = 'ingest';

const BATCH_SIZE = positiveNumber('BATCH_SIZE', 100);
const PROBE_TIMEOUT_MS = positiveNumber('PROBE_TIMEOUT_SECONDS', 10) * 1000;
const PROBE_POLL_MS = positiveNumber('PROBE_POLL_MS', 200);
/** Pause between probes, so the probe measures the pipeline rather than adding load to it. */
const PROBE_PAUSE_S = 1;

/** Batches per second at the nominal peak (500 events/s across all crossings). */
const NOMINAL_BATCHES_PER_S = 5;

const eventToEstimate = new Trend('event_to_estimate_ms', true);
/** Share of probes whose observation appeared in /waits within PROBE_TIMEOUT_SECONDS. */
const probeSeen = new Rate('probe_seen');

/** Probe traffic is tagged apart so single-event posts and polls do not blur the batch-post latency. */
const PROBE = 'probe';

export function buildOptions(p: ProfileName): Options {
  const shape = profile(p);
  return {
    ...commonOptions,
    scenarios: {
      producers: arrivalRateScenario(shape, { exec: 'produce', nominalPerSecond: NOMINAL_BATCHES_PER_S * SCALE, maxVUs: 100, tags: { journey: JOURNEY } }),
      freshness: probeScenario(shape, { exec: 'probe', iterationSeconds: PROBE_TIMEOUT_MS / 1000 + PROBE_PAUSE_S, tags: { journey: JOURNEY } }),
    },
    thresholds: {
      // A batch is acknowledged only after JetStream has stored all of it.
      ...commonThresholds({ p95Ms: 500, p99Ms: 1000 }),
      event_to_estimate_ms: ['p(95)<2000', 'p(99)<5000'],
      probe_seen: ['rate>0.95'],
      [`http_req_failed{kind:${PROBE}}`]: ['rate<0.01'],
    },
  };
}

export const options = buildOptions(PROFILE);

export interface IngestSetup extends Target {
  runId: string;
  /** The queue only the probe writes to. */
  probeQueue: QueueRef;
  /** Every other queue: the producers' targets. */
  producerQueues: QueueRef[];
}

function postEvents(events: LoadEvent[], kind: string) {
  return http.post(`${BASE_URL}/v1/events`, JSON.stringify(events), {
    headers: producerHeaders(),
    tags: { name: 'POST /v1/events', kind },
  });
}

/** PROBE_QUEUE=crossing/direction/class, else the last queue of the catalogue. */
function chooseProbeQueue(queues: QueueRef[]): QueueRef {
  const wanted = env('PROBE_QUEUE', '');
  if (wanted === '') return queues[queues.length - 1] as QueueRef;
  const found = queues.find((q) => `${q.crossingId}/${q.direction}/${q.vehicleClass}` === wanted);
  if (!found) exec.test.abort(`PROBE_QUEUE "${wanted}" is not a queue of the target (crossing/direction/class)`);
  return found as QueueRef;
}

function acceptedAll(body: unknown, n: number): boolean {
  return isRecord(body) && body.accepted === n && body.duplicates === 0;
}

export function setup(): IngestSetup {
  if (!hasProducerToken()) exec.test.abort('PRODUCER_TOKEN is required: POST /v1/events needs a producer (or admin) token');
  requireReady();
  const target = discoverTarget();
  const probeQueue = chooseProbeQueue(target.queues);
  const others = target.queues.filter((q) => q !== probeQueue);
  const runId = newRunId();
  // Fail fast on a wrong token or a rejected event shape, before any load is generated.
  const res = postEvents(buildBatch({ runId, vu: 0, iteration: 0 }, 2, others.length ? others : [probeQueue], Date.now()), 'setup');
  if (res.status !== 202 || !acceptedAll(jsonBody(res), 2)) {
    const body = jsonBody(res);
    const reason = isRecord(body) ? JSON.stringify({ error: body.error, message: body.message, details: body.details }).slice(0, 400) : res.error;
    exec.test.abort(`a trial batch was not accepted: POST /v1/events -> ${res.status} ${reason}`);
  }
  return { ...target, runId, probeQueue, producerQueues: others.length ? others : [probeQueue] };
}

export function produce(data: IngestSetup): void {
  const events = buildBatch({ runId: data.runId, vu: exec.vu.idInTest, iteration: exec.vu.iterationInScenario }, BATCH_SIZE, data.producerQueues, Date.now());
  const res = postEvents(events, API);
  rateLimited.add(res.status === 429);
  check(res, {
    'ingest: 202 Accepted': (r) => r.status === 202,
    'ingest: every event accepted, none a duplicate': (r) => r.status !== 202 || acceptedAll(jsonBody(r), events.length),
  });
}

/** The probe queue's current queue length as published, or undefined when the poll did not return it. */
function publishedQueueLength(body: unknown, q: QueueRef): number | undefined {
  if (!isWaitsBody(body, q.crossingId)) return undefined;
  const row = body.queues.find((r) => r.direction === q.direction && r.vehicleClass === q.vehicleClass);
  return row && typeof row.queueLength === 'number' ? row.queueLength : undefined;
}

export function probe(data: IngestSetup): void {
  const q = data.probeQueue;
  const ev = buildProbe({ runId: data.runId, vu: exec.vu.idInTest, iteration: exec.vu.iterationInScenario }, q, Date.now());
  const sentAt = Date.now();
  const posted = postEvents([ev], PROBE);
  rateLimited.add(posted.status === 429);
  const ok = check(posted, { 'probe: observation accepted': (r) => r.status === 202 && acceptedAll(jsonBody(r), 1) });
  if (!ok) {
    probeSeen.add(false);
    sleep(PROBE_PAUSE_S);
    return;
  }
  const url = `${BASE_URL}/v1/crossings/${encodeURIComponent(q.crossingId)}/waits`;
  let etag: string | undefined;
  let seen = false;
  while (!seen && Date.now() - sentAt < PROBE_TIMEOUT_MS) {
    const res = http.get(url, { headers: readHeaders(etag ? { 'If-None-Match': etag } : {}), tags: { name: 'GET /v1/crossings/:id/waits', kind: PROBE } });
    rateLimited.add(res.status === 429);
    if (res.status === 200) {
      etag = headerValue(res, 'ETag');
      const length = publishedQueueLength(jsonBody(res), q);
      seen = length !== undefined && reflectsProbe(length, ev.queueLength);
    }
    if (!seen) sleep(PROBE_POLL_MS / 1000);
  }
  probeSeen.add(seen);
  if (seen) eventToEstimate.add(Date.now() - sentAt);
  sleep(PROBE_PAUSE_S);
}

export default produce;

export const handleSummary = handleSummaryFor(JOURNEY, PROFILE);
