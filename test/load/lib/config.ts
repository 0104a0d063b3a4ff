/**
 * Target and credentials for the k6 journeys, read once from `__ENV` (k6 -e NAME=value or the environment).
 * Tokens go only into request headers; nothing here is ever printed.
 */
import { profileName, PROFILES, type LoadProfile, type ProfileName } from './profiles.ts';

function env(name: string, fallback: string): string {
  const v = __ENV[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

function positiveNumber(name: string, fallback: number): number {
  const raw = env(name, String(fallback));
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number (got "${raw}")`);
  return n;
}

export const BASE_URL = env('BASE_URL', 'http://127.0.0.1:3000').replace(/\/+$/, '');

/** Reads may be public (READ_AUTH=off on the API); a reader token is sent only when one is given. */
const READER_TOKEN = env('READER_TOKEN', '');
const PRODUCER_TOKEN = env('PRODUCER_TOKEN', '');
/** Kept for journeys that post officials' events (lanes.changed, crossing.status); unused by the current ones. */
export const OFFICIAL_TOKEN = env('OFFICIAL_TOKEN', '');

export const hasProducerToken = (): boolean => PRODUCER_TOKEN !== '';

const bearer = (token: string): Record<string, string> => (token ? { Authorization: `Bearer ${token}` } : {});

export function readHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { Accept: 'application/json', ...bearer(READER_TOKEN), ...extra };
}

export function producerHeaders(): Record<string, string> {
  return { Accept: 'application/json', 'Content-Type': 'application/json', ...bearer(PRODUCER_TOKEN) };
}

export function streamHeaders(): Record<string, string> {
  return { Accept: 'text/event-stream', ...bearer(READER_TOKEN) };
}

/** Crossing to poll or probe; empty means "spread over the whole catalogue". */
export const CROSSING_ID = env('CROSSING_ID', '');

export const PROFILE: ProfileName = profileName(__ENV.PROFILE);
export const profile = (name: ProfileName = PROFILE): LoadProfile => PROFILES[name];

/** Multiplies every journey's nominal level, to scale a whole profile to a bigger or smaller deployment. */
export const SCALE = positiveNumber('SCALE', 1);

/** Where handleSummary writes the JSON verdict for CI; empty = no file. */
export const SUMMARY_PATH = env('SUMMARY_PATH', '');

export { env, positiveNumber };
