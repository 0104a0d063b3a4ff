/**
 * Load shapes for every k6 journey, in one place (grafana/quickpizza habit): smoke, load, stress, spike.
 * A journey names its nominal level (requests or batches per second, or concurrent streams, at an expected
 * production peak) and the profile scales it over time. Chosen with `PROFILE=<name>` (default smoke).
 *
 * This file must stay free of k6 imports: the unit test (node) imports it to check that smoke runs finish in
 * under a minute. The scenario objects below are structurally the k6 `Scenario` types.
 */

export const PROFILE_NAMES = ['smoke', 'load', 'stress', 'spike'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/** One step of a shape: ramp linearly to `level` over `duration` (k6 duration string). */
export interface ShapeStage {
  duration: string;
  /** Multiple of the journey's nominal level; for an `absolute` profile, the literal rate or VU count. */
  level: number;
}

export interface LoadProfile {
  description: string;
  /** Smoke ignores the journey's nominal level and uses tiny literal numbers: it checks the script, not capacity. */
  absolute: boolean;
  stages: ShapeStage[];
  /** Time the running iterations get to finish when the shape ends. */
  gracefulStop: string;
  /** How long one dashboard holds its SSE stream before hanging up and reconnecting. */
  streamHoldSeconds: number;
}

export const PROFILES: Readonly<Record<ProfileName, LoadProfile>> = {
  smoke: {
    description: 'a few requests per second for ~30 s: the script works and the target answers correctly',
    absolute: true,
    stages: [
      { duration: '5s', level: 1 },
      { duration: '20s', level: 2 },
      { duration: '5s', level: 1 },
    ],
    gracefulStop: '10s',
    // Longer than the API's 15 s heartbeat, so even a quiet stream shows it is alive.
    streamHoldSeconds: 20,
  },
  load: {
    description: 'ramp to the nominal production peak, hold it for 10 minutes, ramp down',
    absolute: false,
    stages: [
      { duration: '2m', level: 1 },
      { duration: '10m', level: 1 },
      { duration: '1m', level: 0 },
    ],
    gracefulStop: '30s',
    streamHoldSeconds: 60,
  },
  stress: {
    description: 'steps of 1x, 2x, 3x, 4x the nominal peak (3 minutes each) to find where latency or errors give',
    absolute: false,
    stages: [
      { duration: '1m', level: 1 },
      { duration: '3m', level: 1 },
      { duration: '1m', level: 2 },
      { duration: '3m', level: 2 },
      { duration: '1m', level: 3 },
      { duration: '3m', level: 3 },
      { duration: '1m', level: 4 },
      { duration: '3m', level: 4 },
      { duration: '2m', level: 0 },
    ],
    gracefulStop: '30s',
    streamHoldSeconds: 60,
  },
  spike: {
    description: 'quiet at 0.2x, a sudden jump to 5x for one minute (a border reopening), back to 0.2x and recovery',
    absolute: false,
    stages: [
      { duration: '1m', level: 0.2 },
      { duration: '10s', level: 5 },
      { duration: '1m', level: 5 },
      { duration: '10s', level: 0.2 },
      { duration: '2m', level: 0.2 },
    ],
    gracefulStop: '30s',
    streamHoldSeconds: 60,
  },
};

/** `PROFILE` value -> profile name; unknown names throw so a typo cannot silently run a different shape. */
export function profileName(raw: string | undefined): ProfileName {
  const name = (raw ?? '').trim() || 'smoke';
  if (!(PROFILE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`PROFILE must be one of ${PROFILE_NAMES.join(', ')} (got "${name}")`);
  }
  return name as ProfileName;
}

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** k6 duration string ('1m30s', '500ms', '2h') -> seconds. */
export function parseDurationSeconds(duration: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(duration); m !== null; m = re.exec(duration)) {
    if (m.index !== consumed) break;
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
    consumed = re.lastIndex;
  }
  if (consumed === 0 || consumed !== duration.length) throw new Error(`not a k6 duration: "${duration}"`);
  return total;
}

export interface Stage {
  duration: string;
  target: number;
}

/** Scale a profile to a journey's nominal level. Non-zero levels never round down to 0. */
export function stagesFor(profile: LoadProfile, nominal: number): Stage[] {
  return profile.stages.map((s) => {
    const raw = profile.absolute ? s.level : s.level * nominal;
    return { duration: s.duration, target: raw === 0 ? 0 : Math.max(1, Math.round(raw)) };
  });
}

export const totalStageSeconds = (stages: readonly { duration: string }[]): number =>
  stages.reduce((sum, s) => sum + parseDurationSeconds(s.duration), 0);

const seconds = (n: number): string => `${Math.ceil(n)}s`;

export interface RampingArrivalRateScenario {
  executor: 'ramping-arrival-rate';
  exec: string;
  startRate: number;
  timeUnit: string;
  preAllocatedVUs: number;
  maxVUs: number;
  stages: Stage[];
  gracefulStop: string;
  tags?: Record<string, string>;
}

/**
 * Open model (requests arrive whether or not earlier ones finished), right for polling fleets and producers:
 * when the API slows down, k6 starts more VUs instead of quietly sending less traffic.
 * `nominalPerSecond` is the level 1.0 of the shape; VU pool sized from the expected latency budget.
 */
export function arrivalRateScenario(
  profile: LoadProfile,
  opts: { exec: string; nominalPerSecond: number; maxVUs: number; preAllocatedVUs?: number; tags?: Record<string, string> },
): RampingArrivalRateScenario {
  const stages = stagesFor(profile, opts.nominalPerSecond);
  const peak = Math.max(...stages.map((s) => s.target));
  const maxVUs = profile.absolute ? Math.min(opts.maxVUs, 10) : opts.maxVUs;
  return {
    executor: 'ramping-arrival-rate',
    exec: opts.exec,
    startRate: 0,
    timeUnit: '1s',
    preAllocatedVUs: Math.min(maxVUs, opts.preAllocatedVUs ?? Math.max(2, Math.ceil(peak / 4))),
    maxVUs,
    stages,
    gracefulStop: profile.gracefulStop,
    ...(opts.tags ? { tags: opts.tags } : {}),
  };
}

export interface RampingVUsScenario {
  executor: 'ramping-vus';
  exec: string;
  startVUs: number;
  stages: Stage[];
  gracefulRampDown: string;
  gracefulStop: string;
  tags?: Record<string, string>;
}

/**
 * Closed model (a fixed population of clients), right for dashboards holding a stream each.
 * `holdSeconds` is how long one iteration blocks; the graceful stop and ramp-down are stretched past it so
 * streams still open at the end complete instead of being cut off mid-measurement.
 */
export function vuScenario(
  profile: LoadProfile,
  opts: { exec: string; nominalVUs: number; holdSeconds?: number; tags?: Record<string, string> },
): RampingVUsScenario {
  const grace = Math.max(parseDurationSeconds(profile.gracefulStop), (opts.holdSeconds ?? 0) + 5);
  return {
    executor: 'ramping-vus',
    exec: opts.exec,
    startVUs: 0,
    stages: stagesFor(profile, opts.nominalVUs),
    gracefulRampDown: seconds(grace),
    gracefulStop: seconds(grace),
    ...(opts.tags ? { tags: opts.tags } : {}),
  };
}

export interface ConstantVUsScenario {
  executor: 'constant-vus';
  exec: string;
  vus: number;
  duration: string;
  gracefulStop: string;
  tags?: Record<string, string>;
}

/**
 * A fixed number of VUs for the whole length of the profile: for probes that measure something (like
 * event-to-estimate delay) alongside the main load rather than adding to it.
 */
export function probeScenario(
  profile: LoadProfile,
  opts: { exec: string; vus?: number; iterationSeconds: number; tags?: Record<string, string> },
): ConstantVUsScenario {
  return {
    executor: 'constant-vus',
    exec: opts.exec,
    vus: opts.vus ?? 1,
    duration: seconds(totalStageSeconds(profile.stages)),
    gracefulStop: seconds(Math.max(parseDurationSeconds(profile.gracefulStop), opts.iterationSeconds + 2)),
    ...(opts.tags ? { tags: opts.tags } : {}),
  };
}

export type KezekScenario = RampingArrivalRateScenario | RampingVUsScenario | ConstantVUsScenario;

/** Longest wall-clock time k6 can spend in a scenario: its shape plus the graceful stop. */
export function scenarioMaxSeconds(s: KezekScenario): number {
  const body = s.executor === 'constant-vus' ? parseDurationSeconds(s.duration) : totalStageSeconds(s.stages);
  return body + parseDurationSeconds(s.gracefulStop);
}
