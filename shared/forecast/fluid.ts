/**
 * Fluid (deterministic flow) forecast of a border queue. It answers "if I join this queue at time T, how long
 * will I wait?" for T up to a few days ahead, and ranks the coming hours.
 *
 * The queue length Q(t) follows dQ/dt = lambda(t) - c(t) - Q(t)/patience, integrated in one-minute steps from now:
 *  - lambda(t): the seed's hour-of-week arrival profile, hourlyArrivals[local hour] x weekdayFactors[local ISO
 *    weekday], in the crossing's local zone;
 *  - c(t): service capacity. Near now it is what the live estimate implies ((queueLength+1)/waitSeconds while
 *    vehicles wait), relaxing to the seed's lanesTypical/serviceTimeMean over a few hours; zero outside operating
 *    hours and while a known closure lasts (forever if the reopening time is unknown, or while no lane is open);
 *  - abandonment at rate Q/patience when the seed gives a patience.
 * The wait of a vehicle joining at T is the time until the capacity after T has served the Q(T) vehicles ahead of
 * it (so a closure or the night break is included), plus the live estimate's difference from the flow's wait of
 * joining now, fading like the capacity (so /forecast for now agrees with /waits). The range widens with the horizon because the profile, not
 * the live state, dominates far ahead. Everything is in epoch ms / seconds; no wall clock is read here.
 */
import { DateTime } from 'luxon';
import { profileArrivalsPerHour, type ClassProfile, type Crossing } from '../catalogue/schema.ts';

export const STEP_MS = 60_000;
/** How fast the live capacity relaxes to the seed's typical capacity (e-folding time). */
export const CAPACITY_RELAX_MS = 4 * 3600_000;
/** Give up computing a wait beyond this (e.g. closed with no known reopening). */
export const MAX_DRAIN_MS = 7 * 24 * 3600_000;
export const MAX_HORIZON_MS = 7 * 24 * 3600_000;

export interface FluidState {
  nowMs: number;
  queueLength: number;
  lanesOpen: number | null;
  waitSeconds: number | null;
  status: 'open' | 'closed' | 'restricted';
  /** End of the current status (e.g. reopening), epoch ms, or null when unknown / not applicable. */
  statusUntilMs: number | null;
}

export interface FluidContext {
  profile: ClassProfile;
  /** IANA zone the arrival profile is expressed in (the crossing's local zone). */
  localZone: string;
  operatingHours: Crossing['operatingHours'];
}

export interface FluidPoint {
  /** Time a vehicle joins, epoch ms. */
  t: number;
  queueLength: number;
  /** Median wait, seconds; null when it cannot be known (closed with unknown reopening, or beyond the horizon). */
  waitSeconds: number | null;
  waitP10Seconds: number | null;
  waitP90Seconds: number | null;
  capacityPerHour: number;
  arrivalsPerHour: number;
}

/** Local offset (minutes) of a zone at an instant, cached per UTC hour. */
function offsetFinder(zone: string): (t: number) => number {
  const cache = new Map<number, number>();
  return (t) => {
    const h = Math.floor(t / 3600_000);
    let off = cache.get(h);
    if (off === undefined) {
      off = DateTime.fromMillis(h * 3600_000, { zone }).offset;
      cache.set(h, off);
    }
    return off;
  };
}

const minutesOfDay = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

export interface FluidModel {
  /** Arrivals per second at t. */
  lambda(t: number): number;
  /** Service capacity (vehicles per second) at t. */
  capacity(t: number): number;
  /** Queue length at each step from state.nowMs to untilMs (inclusive), one-minute steps. */
  trajectory(untilMs: number): Float64Array;
  /** Forecast for a vehicle joining at t (nowMs <= t <= now + MAX_HORIZON_MS). */
  at(t: number, traj?: Float64Array): FluidPoint;
}

export function createFluidModel(ctx: FluidContext, state: FluidState): FluidModel {
  const { profile } = ctx;
  const localOffset = offsetFinder(ctx.localZone);
  const hoursZoneOffset = ctx.operatingHours.mode === 'daily' ? offsetFinder(ctx.operatingHours.timeZone) : undefined;
  const openMin = ctx.operatingHours.mode === 'daily' ? minutesOfDay(ctx.operatingHours.open) : 0;
  const closeMin = ctx.operatingHours.mode === 'daily' ? minutesOfDay(ctx.operatingHours.close) : 0;

  const typicalCapacity = profile.lanesTypical / profile.serviceTimeMeanSeconds;
  const liveCapacity = (() => {
    if (state.status === 'closed') return typicalCapacity;
    if (state.waitSeconds !== null && state.waitSeconds > 0 && state.queueLength > 0) return (state.queueLength + 1) / state.waitSeconds;
    if (state.lanesOpen !== null) return state.lanesOpen / profile.serviceTimeMeanSeconds;
    return typicalCapacity;
  })();
  const abandonRate = profile.patienceMeanMinutes ? 1 / (profile.patienceMeanMinutes * 60) : 0;

  const isOpenByHours = (t: number): boolean => {
    if (!hoursZoneOffset) return true;
    const local = t + hoursZoneOffset(t) * 60_000;
    const m = Math.floor((local % 86_400_000) / 60_000);
    return openMin <= closeMin ? m >= openMin && m < closeMin : m >= openMin || m < closeMin;
  };
  // No lane open on an open crossing serves nobody until a lane reopens, which nothing announces: like a closure
  // with no known reopening (/waits publishes no wait figure for it either, shared/estimation/model.ts).
  const isClosedByStatus = (t: number): boolean =>
    state.status === 'closed' ? state.statusUntilMs === null || t < state.statusUntilMs : state.lanesOpen === 0;

  const lambda = (t: number): number => {
    const local = new Date(t + localOffset(t) * 60_000);
    const hour = local.getUTCHours();
    const isoWeekday = ((local.getUTCDay() + 6) % 7) + 1;
    return profileArrivalsPerHour(profile, hour, isoWeekday) / 3600;
  };
  const capacity = (t: number): number => {
    if (isClosedByStatus(t) || !isOpenByHours(t)) return 0;
    const w = Math.exp(-Math.max(0, t - state.nowMs) / CAPACITY_RELAX_MS);
    return w * liveCapacity + (1 - w) * typicalCapacity;
  };

  const trajectory = (untilMs: number): Float64Array => {
    const n = Math.max(0, Math.ceil((Math.min(untilMs, state.nowMs + MAX_HORIZON_MS) - state.nowMs) / STEP_MS));
    const q = new Float64Array(n + 1);
    q[0] = Math.max(0, state.queueLength);
    const dt = STEP_MS / 1000;
    for (let i = 0; i < n; i++) {
      const t = state.nowMs + i * STEP_MS;
      const cur = q[i]!;
      const next = cur + (lambda(t) - capacity(t) - cur * abandonRate) * dt;
      q[i + 1] = next > 0 ? next : 0;
    }
    return q;
  };

  /** Seconds until the capacity after t has served the `ahead` vehicles in front (and service is open), or null. */
  const drainSeconds = (t: number, ahead: number): number | null => {
    let need = ahead;
    for (let s = 0; s * STEP_MS <= MAX_DRAIN_MS; s++) {
      const c = capacity(t + s * STEP_MS) * (STEP_MS / 1000);
      if (c > 0 && c >= need) return s * 60 + (need / c) * 60;
      need -= c;
    }
    return null;
  };

  /** Seconds from t until service is open (0 when it is open at t), in one-minute steps. */
  const closedSeconds = (t: number): number => {
    let s = 0;
    while (s * STEP_MS <= MAX_DRAIN_MS && capacity(t + s * STEP_MS) <= 0) s++;
    return s * 60;
  };

  /**
   * The live estimate's wait minus the fluid wait of joining now (open queues with a live wait): the live models
   * (LES/HOL) see what the flow does not, e.g. a wait while the counted queue is empty. Added to every forecast,
   * fading like the capacity, so that joining now is forecast as the live estimate says and far ahead the flow rules.
   */
  let bias: number | undefined;
  const biasAt = (t: number): number => {
    if (bias === undefined) {
      const w0 = state.status === 'open' && state.waitSeconds !== null ? drainSeconds(state.nowMs, Math.max(0, state.queueLength)) : null;
      bias = w0 === null || state.waitSeconds === null ? 0 : state.waitSeconds - w0;
    }
    return bias * Math.exp(-Math.max(0, t - state.nowMs) / CAPACITY_RELAX_MS);
  };

  const at = (t: number, traj?: Float64Array): FluidPoint => {
    const tt = Math.max(state.nowMs, t);
    const q = traj ?? trajectory(tt);
    const i = Math.min(q.length - 1, Math.round((tt - state.nowMs) / STEP_MS));
    const queueLength = q[i] ?? 0;
    const drained = drainSeconds(tt, queueLength);
    const wait = drained === null ? null : Math.max(0, drained + biasAt(tt));
    const horizonH = (tt - state.nowMs) / 3600_000;
    const spread = Math.min(1.5, 0.25 + 0.12 * Math.sqrt(horizonH));
    // the time until service opens (a known reopening, the night break) is a timetable, not a guess: the range is
    // that of the wait after it, as /waits treats a known reopening
    const shut = wait === null ? 0 : Math.min(wait, closedSeconds(tt));
    const served = wait === null ? 0 : wait - shut;
    return {
      t: tt,
      queueLength: Math.round(queueLength * 10) / 10,
      waitSeconds: wait === null ? null : Math.round(wait),
      waitP10Seconds: wait === null ? null : Math.round(shut + served / (1 + spread)),
      waitP90Seconds: wait === null ? null : Math.round(shut + served * (1 + spread) + profile.serviceTimeMeanSeconds * spread),
      capacityPerHour: Math.round(capacity(tt) * 3600 * 10) / 10,
      arrivalsPerHour: Math.round(lambda(tt) * 3600 * 10) / 10,
    };
  };

  return { lambda, capacity, trajectory, at };
}

/** A slot [from, to), epoch ms, with the forecast for a vehicle joining at `from`. */
export interface ForecastSlot extends FluidPoint {
  from: number;
  to: number;
}

export interface RankedSlot extends ForecastSlot {
  rank: number;
}

export interface BestTimes {
  /** Slots with a forecast wait, best first (rank 1 = the shortest wait; ties go to the earlier slot). */
  ranked: RankedSlot[];
  /**
   * Slots with no wait figure, in time order. They are not ranked at all: no figure is not a short wait, and a
   * closed crossing's hours must not come out as "the best time to go".
   */
  unavailable: ForecastSlot[];
}

/** Why a forecast has no wait figure (see noWaitReason). */
export const NO_WAIT_REASONS = ['closed-unknown-reopening', 'no-lanes-open', 'beyond-horizon'] as const;
export type NoWaitReason = (typeof NO_WAIT_REASONS)[number];

/** Why the model started from `state` gives no wait figure: nothing says when service resumes, or the queue ahead is not served within MAX_DRAIN_MS. */
export function noWaitReason(state: FluidState): NoWaitReason {
  if (state.status === 'closed') return state.statusUntilMs === null ? 'closed-unknown-reopening' : 'beyond-horizon';
  return state.lanesOpen === 0 ? 'no-lanes-open' : 'beyond-horizon';
}

/**
 * Forecast for joining at the start of each slot of [now, now + withinMs]: the slots with a wait ranked best first,
 * the others apart. The slots are the clock hours, cut to the period: the first runs from now to the next full hour
 * (joining now is a choice too), the last ends at now + withinMs.
 */
export function bestTimes(model: FluidModel, nowMs: number, withinMs: number): BestTimes {
  const H = 3600_000;
  const last = nowMs + withinMs;
  const traj = model.trajectory(last);
  const ranked: ForecastSlot[] = [];
  const unavailable: ForecastSlot[] = [];
  for (let from = nowMs; from < last; from = Math.floor(from / H) * H + H) {
    const slot = { ...model.at(from, traj), from, to: Math.min(Math.floor(from / H) * H + H, last) };
    (slot.waitSeconds === null ? unavailable : ranked).push(slot);
  }
  ranked.sort((a, b) => a.waitSeconds! - b.waitSeconds! || a.from - b.from);
  return { ranked: ranked.map((s, i) => ({ ...s, rank: i + 1 })), unavailable };
}
