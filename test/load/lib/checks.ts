/**
 * Shared k6 pieces for the journeys: the fail-fast readiness gate used by every `setup()`, catalogue discovery,
 * the thresholds every journey shares, and response-shape checks. No logging: a failed check is the signal.
 */
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import exec from 'k6/execution';
import { Rate } from 'k6/metrics';
import { BASE_URL, CROSSING_ID, SUMMARY_PATH, readHeaders } from './config.ts';
import type { ProfileName } from './profiles.ts';
import { summaryOutputs, type SummaryData } from './summary.ts';

/** Share of requests answered 429: a run that hits the API's rate limiter measures the limiter, not the API. */
export const rateLimited = new Rate('rate_limited');

/** Requests the verdict is about; setup traffic and held streams carry other `kind` tags. */
export const API = 'api';

export interface QueueRef {
  crossingId: string;
  direction: string;
  vehicleClass: string;
}

export interface Target {
  crossingIds: string[];
  queues: QueueRef[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Parse JSON without throwing (k6's `res.json()` throws on a non-JSON body). */
export function jsonBody(res: RefinedResponse<ResponseType | undefined>): unknown {
  if (typeof res.body !== 'string' || res.body === '') return undefined;
  try {
    return JSON.parse(res.body);
  } catch {
    return undefined;
  }
}

/** A response header by name, whatever case the server or k6 gave it. */
export function headerValue(res: RefinedResponse<ResponseType | undefined>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase() === wanted) return v;
  return undefined;
}

/** A short, secret-free description of a failed response for abort messages (status, error code, API error). */
function describe(res: RefinedResponse<ResponseType | undefined>): string {
  if (res.status === 0) return `no response (${res.error || `k6 error ${res.error_code}`})`;
  const body = jsonBody(res);
  const detail = isRecord(body) ? JSON.stringify(body.checks ?? body.message ?? body.error ?? '').slice(0, 300) : '';
  return `HTTP ${res.status}${detail ? ` ${detail}` : ''}`;
}

/**
 * setup() gate: stop the whole test at once when the target is not ready, instead of producing a run full of
 * errors that looks like a capacity result.
 */
export function requireReady(): void {
  const res = http.get(`${BASE_URL}/readyz`, { headers: readHeaders(), timeout: '10s', tags: { name: 'GET /readyz', kind: 'setup' } });
  if (res.status !== 200) exec.test.abort(`target not ready: GET ${BASE_URL}/readyz -> ${describe(res)}`);
}

/** The crossings and queues to drive, from the target's own catalogue (limited to CROSSING_ID when set). */
export function discoverTarget(): Target {
  const res = http.get(`${BASE_URL}/v1/crossings`, { headers: readHeaders(), timeout: '10s', tags: { name: 'GET /v1/crossings', kind: 'setup' } });
  const body = jsonBody(res);
  if (res.status !== 200 || !isRecord(body) || !Array.isArray(body.crossings)) {
    exec.test.abort(`cannot read the catalogue: GET ${BASE_URL}/v1/crossings -> ${describe(res)}`);
    return { crossingIds: [], queues: [] };
  }
  const queues: QueueRef[] = [];
  const crossingIds: string[] = [];
  for (const c of body.crossings) {
    if (!isRecord(c) || typeof c.id !== 'string' || !isStringArray(c.directions) || !isStringArray(c.vehicleClasses)) continue;
    if (CROSSING_ID && c.id !== CROSSING_ID) continue;
    crossingIds.push(c.id);
    for (const direction of c.directions) for (const vehicleClass of c.vehicleClasses) queues.push({ crossingId: c.id, direction, vehicleClass });
  }
  if (crossingIds.length === 0) {
    exec.test.abort(CROSSING_ID ? `CROSSING_ID "${CROSSING_ID}" is not in the target's catalogue` : 'the target lists no crossings');
  }
  return { crossingIds, queues };
}

/** Thresholds every journey carries: its API latency budget, the error rate, the checks rate, the limiter. */
export function commonThresholds(latency: { p95Ms: number; p99Ms: number }): Record<string, string[]> {
  return {
    [`http_req_duration{kind:${API}}`]: [`p(95)<${latency.p95Ms}`, `p(99)<${latency.p99Ms}`],
    [`http_req_failed{kind:${API}}`]: ['rate<0.01'],
    checks: ['rate>0.99'],
    rate_limited: ['rate<0.01'],
  };
}

/** Options every journey shares besides scenarios and thresholds. */
export const commonOptions = {
  // p(99) is not in k6's default summary; the thresholds and the JSON summary need it.
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
  // Load-test traffic should not look like a browser; name the tool so server logs can filter it out.
  userAgent: 'kezek-k6-load-test',
};

/** The fields every published queue estimate carries (API contract for /waits and /v1/waits). */
const QUEUE_FIELDS = ['direction', 'vehicleClass', 'status', 'lanesOpen', 'queueLength', 'waitSeconds', 'waitP10Seconds', 'waitP90Seconds', 'lastEventAt', 'updatedAt', 'method', 'stale'];

export function isQueueList(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.length > 0 && v.every((q) => isRecord(q) && QUEUE_FIELDS.every((f) => f in q));
}

export function isWaitsBody(v: unknown, crossingId: string): v is { crossingId: string; queues: Record<string, unknown>[] } {
  return isRecord(v) && v.crossingId === crossingId && typeof v.asOf === 'string' && isQueueList(v.queues);
}

export function isBulkBody(v: unknown): v is { crossings: { crossingId: string; queues: unknown[] }[] } {
  return isRecord(v) && Array.isArray(v.crossings) && v.crossings.length > 0 && v.crossings.every((c) => isRecord(c) && typeof c.crossingId === 'string' && isQueueList(c.queues));
}

/** Each journey's `handleSummary`: text summary on stdout, JSON verdict at SUMMARY_PATH. */
export function handleSummaryFor(journey: string, profile: ProfileName): (data: SummaryData) => Record<string, string> {
  return (data) => summaryOutputs(data, { journey, profile, baseUrl: BASE_URL, summaryPath: SUMMARY_PATH });
}

export { isRecord };
