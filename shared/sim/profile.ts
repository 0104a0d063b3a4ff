/**
 * Turns a catalogue class profile (seeds/crossings.json) into a DES scenario for one queue: arrival rate from the
 * hour-of-day profile (crossing's local time) x weekday factor x a per-day random factor, lanes varying around
 * lanesTypical, gamma service times, exponential patience, and night closures from the operating hours.
 * Used by the live simulator, the sample-day generator and available to benchmarks.
 */
import { profileArrivalsPerHour, type Catalogue, type VehicleClass } from '../catalogue/index.ts';
import type { ScenarioSpec, Step } from './des.ts';
import { createRng, deriveSeed, intBetween, mulberry32 } from './random.ts';
import { hhmmToMinutes, localDayTimeToUtc, localParts } from './zone.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface QueueScenarioOptions {
  catalogue: Catalogue;
  crossingId: string;
  direction: string;
  vehicleClass: VehicleClass;
  seed: number;
  startMs: number;
  durationMs: number;
  /** Lanes change every 1-4 h by -1/0/+1 around lanesTypical (default true); false = always lanesTypical. */
  laneVariation?: boolean;
  /** Per-local-day multiplicative noise on the arrival rate, uniform in [1 - x, 1 + x] (default 0.15). */
  dayNoise?: number;
  /** queue.observed period (default 20 min; 0 = none). */
  observationEveryMs?: number;
  reportArrivalProbability?: number;
  reportAbandonProbability?: number;
  probeEveryMs?: number;
  initialQueue?: number;
  eventIdPrefix?: string;
  vehicleRefPrefix?: string;
  source?: string;
}

export class UnknownQueueError extends Error {
  readonly code = 'UNKNOWN_QUEUE';
}

/** Closed intervals [fromMs, toMs) implied by daily operating hours, covering [startMs, endMs). */
export function closuresFromOperatingHours(
  hours: { mode: '24h' } | { mode: 'daily'; open: string; close: string; timeZone: string },
  startMs: number,
  endMs: number,
): { fromMs: number; toMs: number; announceUntil: boolean }[] {
  if (hours.mode === '24h') return [];
  const open = hhmmToMinutes(hours.open);
  const close = hhmmToMinutes(hours.close);
  if (open === close) return [];
  const out: { fromMs: number; toMs: number; announceUntil: boolean }[] = [];
  const firstDay = localParts(hours.timeZone, startMs).dayIndex - 1;
  const lastDay = localParts(hours.timeZone, endMs).dayIndex + 1;
  for (let d = firstDay; d <= lastDay; d++) {
    // Daytime opening (open < close): closed from today's close to tomorrow's opening; overnight opening: closed
    // from today's close to today's opening.
    const fromMs = localDayTimeToUtc(hours.timeZone, d, close);
    const toMs = open < close ? localDayTimeToUtc(hours.timeZone, d + 1, open) : localDayTimeToUtc(hours.timeZone, d, open);
    if (toMs > startMs && fromMs < endMs) out.push({ fromMs, toMs, announceUntil: true });
  }
  return out;
}

export function buildQueueScenario(o: QueueScenarioOptions): ScenarioSpec {
  const crossing = o.catalogue.get(o.crossingId);
  const profile = o.catalogue.profile(o.crossingId, o.vehicleClass);
  if (!crossing || !profile || !crossing.directions.includes(o.direction)) {
    throw new UnknownQueueError(`no catalogued queue ${o.crossingId}/${o.direction}/${o.vehicleClass}`);
  }
  const zone = o.catalogue.localZone(o.crossingId)!;
  const key = `${o.crossingId}:${o.direction}:${o.vehicleClass}`;
  const endMs = o.startMs + o.durationMs;
  const dayNoise = o.dayNoise ?? 0.15;

  const dayFactors = new Map<number, number>();
  const dayFactor = (dayIndex: number) => {
    let f = dayFactors.get(dayIndex);
    if (f === undefined) {
      f = 1 - dayNoise + 2 * dayNoise * mulberry32(deriveSeed(o.seed, `day:${key}:${dayIndex}`)).next();
      dayFactors.set(dayIndex, f);
    }
    return f;
  };
  const arrivalRatePerHour = (tMs: number) => {
    const p = localParts(zone, tMs);
    return profileArrivalsPerHour(profile, p.hour, p.isoWeekday) * dayFactor(p.dayIndex);
  };
  const maxArrivalRatePerHour = Math.max(...profile.hourlyArrivals) * Math.max(...profile.weekdayFactors) * (1 + dayNoise);

  const lanes: Step[] = [{ atMs: o.startMs, value: profile.lanesTypical }];
  if (o.laneVariation ?? true) {
    const rng = createRng(o.seed, `lanes:${key}`);
    const min = profile.lanesTypical > 0 ? 1 : 0;
    for (let t = o.startMs + intBetween(rng, 1, 4) * HOUR_MS; t < endMs; t += intBetween(rng, 1, 4) * HOUR_MS) {
      const u = rng.next();
      const delta = u < 0.2 ? -1 : u < 0.8 ? 0 : 1;
      lanes.push({ atMs: t, value: Math.min(profile.lanesMax, Math.max(min, profile.lanesTypical + delta)) });
    }
  }

  const closures =
    crossing.status === 'closed'
      ? [{ fromMs: o.startMs, toMs: endMs + DAY_MS, announceUntil: false }]
      : closuresFromOperatingHours(crossing.operatingHours, o.startMs, endMs);

  return {
    crossingId: o.crossingId,
    direction: o.direction,
    vehicleClass: o.vehicleClass,
    startMs: o.startMs,
    durationMs: o.durationMs,
    seed: deriveSeed(o.seed, `queue:${key}`),
    arrivalRatePerHour,
    maxArrivalRatePerHour,
    lanes,
    serviceTimeMeanSeconds: profile.serviceTimeMeanSeconds,
    serviceTimeScv: profile.serviceTimeScv,
    patienceMeanMinutes: profile.patienceMeanMinutes,
    closures,
    reportArrivalProbability: o.reportArrivalProbability,
    reportAbandonProbability: o.reportAbandonProbability,
    observationEveryMs: (o.observationEveryMs ?? 20 * 60_000) > 0 ? (o.observationEveryMs ?? 20 * 60_000) : undefined,
    probeEveryMs: o.probeEveryMs ?? 0,
    initialQueue: o.initialQueue,
    eventIdPrefix: o.eventIdPrefix,
    vehicleRefPrefix: o.vehicleRefPrefix,
    source: o.source,
  };
}
