/**
 * The queue model: turns a QueueWindow (shared/estimation/window.ts) into a published QueueEstimate.
 * Pure and deterministic: the same window gives the same estimate, whatever the order of its records.
 * The science and the reasons behind each step are in ./README.md.
 */
import { profileArrivalsPerHour, type ClassProfile } from '../catalogue/schema.ts';
import type { EstimateMethod, QueueEstimate, QueueStatus } from '../estimates.ts';
import { gammaP, gammaPWith, gammaQuantileWith, lnGamma } from './gamma.ts';
import { compareRecords, type QueueRecord, type QueueWindow } from './window.ts';
import { silentSourceAt } from './staleness.ts';

/** Lookback the model is tuned for: long enough to span an overnight closure's service history. */
export const MODEL_LOOKBACK_MS = 6 * 60 * 60 * 1000;

export interface ModelContext {
  /** Seed priors for this queue (catalogue class profile). */
  profile: ClassProfile;
  /** IANA zone of the crossing's local time (hour-of-week prior). */
  localZone: string;
  staleAfterMs: number;
  /** The latest `staleAt` after the last event (shared/estimation/staleness.ts); default 12 h. */
  maxSilenceMs?: number;
  /** Wall clock, only for `updatedAt`. */
  nowMs: number;
  revision: number;
}

/** Tuning constants, in one place. */
const P = {
  /** Memory of the service-rate estimate (exponential decay in event time). 4 h: measured better than 2 h (a less
   *  noisy rate) on every benchmark scenario but neighbour-surge, where it is even. */
  capacityTauMs: 240 * 60 * 1000,
  /** Weight of the seed prior, in pseudo service completions. */
  priorServices: 6,
  /** Weight of one observed service duration relative to one saturated start (durations trust lane data). */
  durationWeight: 0.5,
  /** Memory of the abandonment-rate estimate. */
  thetaTauMs: 3 * 60 * 60 * 1000,
  /** Weight of the patience prior, in vehicle-seconds of exposure. */
  thetaPriorExposureS: 5 * 3600,
  /** Calibration is done separately (Mondrian) for light states and for a real queue of at least this many departures. */
  heavyK: 3,
  /** Cap on the time-sampling weight of one realised wait (a long gap between arrivals). */
  maxGapMs: 20 * 60 * 1000,
  /** The time-sampling weight of a realised wait is the mean gap over this many preceding arrivals (~1/rate). */
  gapArrivals: 20,
  /** Memory of the calibration and fusion statistics. */
  calibTauMs: 3 * 60 * 60 * 1000,
  /** Pseudo-count (in effective samples) pulling the recalibrated quantile levels toward nominal (realised waits
   *  in a changing queue are a biased sample of the next hour: trust them gradually). */
  calibPrior: 40,
  /** Realised waits are scored only once this multiple of the predicted median has elapsed (limits censoring bias). */
  calibHorizon: 2.5,
  /** Irreducible relative variance (model error: non-stationarity, count errors). */
  modelVarFloor: 0.01,
  /** Pseudo-count for the share of unreported arrivals (pulls toward 0). */
  missingPrior: 10,
  /** A wait counts as "waited" (saturated start) above this. */
  saturatedMinWaitMs: 1000,
} as const;

const LEVELS = { p10: 0.1, p50: 0.5, p90: 0.9 } as const;

// ---------------------------------------------------------------------------------------------------------
// Wait distribution

/** Wait = offset + (0 with probability p0, else Gamma(shape, mean)). */
export interface WaitDist {
  /** Departures the joining vehicle waits for (its place in the line counting busy lanes ahead). */
  k: number;
  offset: number;
  p0: number;
  mean: number;
  shape: number;
}

export function distQuantile(d: WaitDist, q: number): number {
  if (q <= d.p0 || d.mean <= 0) return d.offset;
  return quantileWith(d, q, lnGamma(d.shape));
}

/** distQuantile past its early return, with lnGamma(d.shape) supplied (bit-identical). */
function quantileWith(d: WaitDist, q: number, gln: number): number {
  const c = Math.min(0.9999, (q - d.p0) / (1 - d.p0));
  return d.offset + (gammaQuantileWith(c, d.shape, gln) * d.mean) / d.shape;
}

export function distCdf(d: WaitDist, w: number): number {
  if (w < d.offset) return 0;
  if (d.mean <= 0) return 1;
  return d.p0 + (1 - d.p0) * gammaP(d.shape, ((w - d.offset) * d.shape) / d.mean);
}

/** distCdf with lnGamma(d.shape) supplied (bit-identical: gammaP's own early returns, then the same series). */
function cdfWith(d: WaitDist, w: number, gln: number): number {
  if (w < d.offset) return 0;
  if (d.mean <= 0) return 1;
  const x = ((w - d.offset) * d.shape) / d.mean;
  const p = x <= 0 ? 0 : !Number.isFinite(x) ? 1 : gammaPWith(d.shape, x, gln, Math.log(x));
  return d.p0 + (1 - d.p0) * p;
}

/**
 * PIT of a realised wait for coverage: the published quantile at level a covers w iff w <= Q(a), i.e. iff
 * F(w-) <= a. For a continuous part that is F(w); a wait inside the atom (no wait beyond the offset) is covered by
 * the quantile at EVERY level, so its PIT is 0. (A randomised PIT, uniform on [0, P(W = 0)], makes PITs uniform,
 * but then the level that reaches 0.9 on it over-covers: P(W <= Q(0.9)) = max(0.9, P(W = 0)) > 0.9 whenever the
 * atom is heavy, and the scored coverage is P(W <= Q).) The recalibration picks the level whose empirical coverage
 * is the target (Kuleshov et al. 2018; Gibbs & Candes 2021 adapt the level online in the same spirit).
 */
export function coveragePit(d: WaitDist, w: number): number {
  return w <= d.offset + 0.5 ? 0 : distCdf(d, w);
}

/**
 * Weighted empirical coverage at level a: share of PIT mass (values pv, weights pw) <= a, summed in prediction
 * order. The bisections of the calibration ask for many levels that select the same PITs; a level between the
 * largest value <= a and the smallest value > a of an earlier pass selects the same set, so it gets that pass's
 * value (the same sum of the same terms in the same order) without another pass.
 */
class CoverageCache {
  private readonly below: number[] = [];
  private readonly above: number[] = [];
  private readonly value: number[] = [];

  constructor(
    private readonly pv: readonly number[],
    private readonly pw: readonly number[],
    private readonly total: number,
  ) {}

  at(a: number): number {
    for (let j = 0; j < this.value.length; j++) if (this.below[j]! <= a && a < this.above[j]!) return this.value[j]!;
    const { pv, pw } = this;
    let c = 0;
    let below = -Infinity;
    let above = Infinity;
    for (let i = 0; i < pv.length; i++) {
      const v = pv[i]!;
      if (v <= a) {
        c += pw[i]!;
        if (v > below) below = v;
      } else if (v < above) above = v;
    }
    const value = c / this.total;
    // a NaN level selects nothing: never reuse a pass made for it
    if (!Number.isNaN(a)) {
      this.below.push(below);
      this.above.push(above);
      this.value.push(value);
    }
    return value;
  }
}

/** Quantile at nominal level q after mapping the level with `map` (the calibration). */
export function calibratedQuantile(d: WaitDist, q: number, map: (q: number) => number = (x) => x): number {
  return distQuantile(d, map(q));
}

/** Expected time for `k` departures (k may be fractional) at capacity c with abandonment theta of those ahead. */
export function drainSeconds(k: number, c: number, theta: number): number {
  if (k <= 0) return 0;
  if (c <= 0) return Infinity;
  const whole = Math.floor(k);
  if (whole > 2000 && theta > 0) return Math.log(1 + (k * theta) / c) / theta;
  let sum = 0;
  for (let j = 0; j < whole; j++) sum += 1 / (c + j * theta);
  return sum + (k - whole) / (c + whole * theta);
}

// ---------------------------------------------------------------------------------------------------------
// Baselines (Ibrahim & Whitt), exported for the benchmark

/** QL with a known service rate: (n+1)/(s*mu), zero when a lane is free and nobody waits. */
export function qlTrueRate(n: number, lanes: number, muPerLane: number, busy = lanes): number {
  if (lanes <= 0 || muPerLane <= 0) return Infinity;
  if (n <= 0 && busy < lanes) return 0;
  return (n + 1) / (lanes * muPerLane);
}

// ---------------------------------------------------------------------------------------------------------
// Replay

type EntrySource = 'initial' | 'arrival' | 'observed';
interface Entry {
  /** Arrival time (estimated for 'initial' and 'observed'). */
  t: number;
  ref?: string;
  src: EntrySource;
  /** Index into `preds` when a prediction was recorded at its arrival. */
  pred?: number;
}

interface Prediction {
  t: number;
  /** Time since the previous arrival (ms): weights arrival-sampled scores back to time-sampling. */
  gap: number;
  dist: WaitDist;
  median: number;
  /** lnGamma(dist.shape) once computed (NaN before): shared by the median and the calibration's PIT. */
  gln: number;
  les: number | null;
  /** What became of the vehicle (fields, not an object per vehicle): served after `wait` ms, or left. */
  outcome: typeof PENDING | typeof SERVED | typeof LEFT;
  /** The realised wait (ms) when served. */
  wait: number;
}

const PENDING = 0;
const SERVED = 1;
const LEFT = 2;

interface Decayed {
  v: number;
}

class Replay {
  readonly prior: ClassProfile;
  t: number;
  queue: Entry[] = [];
  byRef = new Map<string, Entry>();
  /** Refs removed by a count correction (a later S for them is not evidence of a missing arrival). */
  ghosts = new Set<string>();
  inService = new Map<string, number>();
  sawCrossed = false;
  lanes: number | null;
  lastPositiveLanes: number | null;
  status: QueueRecord | null;
  lastObsT = -Infinity;
  lastArrivalT: number;
  les: number | null = null;
  lesT = -Infinity;

  // decayed sufficient statistics
  satStarts: Decayed = { v: 0 };
  laneTime: Decayed = { v: 0 };
  durN: Decayed = { v: 0 };
  durSum: Decayed = { v: 0 };
  durSq: Decayed = { v: 0 };
  abandons: Decayed = { v: 0 };
  silent: Decayed = { v: 0 };
  exposure: Decayed = { v: 0 };
  matched = 0;
  missing = 0;
  neutral = 0;

  preds: Prediction[] = [];
  arrivalTimes: number[] = [];

  constructor(
    readonly w: QueueWindow,
    profile: ClassProfile,
    readonly collect: boolean,
  ) {
    this.prior = profile;
    this.t = w.fromMs;
    this.lastArrivalT = w.fromMs;
    this.lanes = w.lanesAtFrom;
    this.lastPositiveLanes = w.lanesAtFrom && w.lanesAtFrom > 0 ? w.lanesAtFrom : null;
    this.status = w.statusAtFrom;
    // Vehicles waiting at fromMs: those known to start service in the window first (FIFO), in arrival order.
    const known = Object.entries(w.earlierArrivals).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    for (const [ref, t] of known) this.push({ t, ref, src: 'initial' });
    for (let i = known.length; i < w.queueLengthAtFrom; i++) this.push({ t: w.fromMs, src: 'initial' });
    for (const [ref, t] of Object.entries(w.earlierStarts)) this.inService.set(ref, t);
  }

  private push(e: Entry): void {
    this.queue.push(e);
    if (e.ref !== undefined) this.byRef.set(e.ref, e);
  }

  private removeAt(i: number, count = 1): Entry[] {
    const out = this.queue.splice(i, count);
    for (const e of out) if (e.ref !== undefined && this.byRef.get(e.ref) === e) this.byRef.delete(e.ref);
    return out;
  }

  isClosedAt(t: number): boolean {
    const s = this.status;
    return s?.status === 'closed' && (s.untilMs === undefined || s.untilMs > t);
  }

  currentLanes(): number {
    return this.lanes ?? this.prior.lanesTypical;
  }

  /** Moves the clock to t, decaying and integrating the statistics over (this.t, t]. */
  advance(t: number): void {
    const dt = t - this.t;
    if (dt <= 0) return;
    // spelled out rather than looped over arrays: this runs once per record of every window replayed
    const fc = Math.exp(-dt / P.capacityTauMs);
    this.satStarts.v *= fc;
    this.laneTime.v *= fc;
    this.durN.v *= fc;
    this.durSum.v *= fc;
    this.durSq.v *= fc;
    const ft = Math.exp(-dt / P.thetaTauMs);
    this.abandons.v *= ft;
    this.silent.v *= ft;
    this.exposure.v *= ft;
    const waiting = this.queue.length;
    if (waiting > 0) {
      this.exposure.v += (waiting * dt) / 1000;
      if (!this.isClosedAt(this.t)) this.laneTime.v += (this.currentLanes() * dt) / 1000;
    }
    this.t = t;
  }

  private markLeft(e: Entry): void {
    if (e.pred !== undefined) this.preds[e.pred]!.outcome = LEFT;
  }

  apply(r: QueueRecord): void {
    this.advance(r.t);
    switch (r.kind) {
      case 'A': {
        const e: Entry = { t: r.t, src: 'arrival' };
        if (r.ref !== undefined) e.ref = r.ref;
        if (this.collect && r.ref !== undefined) {
          const dist = this.predict(r.t);
          if (dist) {
            e.pred = this.preds.length;
            // Mean gap over the last few arrivals (~1/arrival rate): the raw gap before one arrival is correlated
            // with the state it sees (a long gap lets the line drain), the local mean is not.
            const times = this.arrivalTimes;
            const nb = Math.min(times.length, P.gapArrivals);
            const gap = Math.min(nb === 0 ? r.t - this.lastArrivalT : (r.t - times[times.length - nb]!) / nb, P.maxGapMs);
            // distQuantile(dist, 0.5), keeping lnGamma(shape) for the calibration
            let gln = NaN;
            let median: number;
            if (0.5 <= dist.p0 || dist.mean <= 0) median = dist.offset;
            else {
              gln = lnGamma(dist.shape);
              median = quantileWith(dist, 0.5, gln);
            }
            this.preds.push({ t: r.t, gap, dist, median, gln, les: this.les, outcome: PENDING, wait: 0 });
          }
        }
        this.push(e);
        this.lastArrivalT = r.t;
        this.arrivalTimes.push(r.t);
        break;
      }
      case 'S': {
        const ref = r.ref;
        const e = ref !== undefined ? this.byRef.get(ref) : undefined;
        let wait: number | undefined;
        const waitingBefore = this.queue.length;
        if (e) {
          // FIFO: everyone still listed ahead of this vehicle has left without being served.
          const idx = this.queue.indexOf(e);
          if (idx === 0) {
            // the usual case (the head starts service): no array to allocate
            this.queue.shift();
            this.byRef.delete(ref!); // e is byRef.get(ref)
          } else {
            const gone = this.removeAt(0, idx + 1);
            gone.pop();
            for (const g of gone) {
              if (g.src === 'arrival' && g.ref !== undefined) {
                this.silent.v += 1;
                this.markLeft(g);
              }
            }
          }
          if (e.src !== 'observed') wait = r.t - e.t;
          if (e.src === 'arrival') this.matched += 1;
          if (e.pred !== undefined && wait !== undefined) {
            const p = this.preds[e.pred]!;
            p.outcome = SERVED;
            p.wait = wait;
          }
        } else {
          if (ref !== undefined && this.ghosts.has(ref)) {
            this.ghosts.delete(ref);
          } else {
            // Arrival not in the list: take the oldest anonymous entry (an unreported or pre-window vehicle).
            const i = this.queue.findIndex((q) => q.ref === undefined);
            const src = i >= 0 ? this.queue[i]!.src : undefined;
            if (i >= 0) this.removeAt(i);
            if (src === 'arrival') this.neutral += 1;
            else if (src !== 'initial') this.missing += 1;
          }
          const earlier = ref !== undefined ? this.w.earlierArrivals[ref] : undefined;
          if (earlier !== undefined) wait = r.t - earlier;
        }
        if (wait !== undefined) {
          this.les = wait / 1000;
          this.lesT = r.t;
        }
        const saturated = wait !== undefined ? wait > P.saturatedMinWaitMs : waitingBefore > 0;
        if (saturated) this.satStarts.v += 1;
        if (ref !== undefined) this.inService.set(ref, r.t);
        break;
      }
      case 'C': {
        this.sawCrossed = true;
        const ref = r.ref;
        if (ref === undefined) break;
        const s = this.inService.get(ref);
        if (s !== undefined) {
          this.inService.delete(ref);
          const d = (r.t - s) / 1000;
          if (d > 0) {
            this.durN.v += 1;
            this.durSum.v += d;
            this.durSq.v += d * d;
          }
        }
        break;
      }
      case 'X': {
        this.abandons.v += 1;
        const e = r.ref !== undefined ? this.byRef.get(r.ref) : undefined;
        if (e) {
          this.markLeft(e);
          this.removeAt(this.queue.indexOf(e));
        } else {
          const i = this.queue.findIndex((q) => q.ref === undefined && q.src !== 'arrival');
          if (i >= 0) this.removeAt(i);
        }
        break;
      }
      case 'L':
        this.lanes = r.value ?? null;
        if (r.value !== undefined && r.value > 0) this.lastPositiveLanes = r.value;
        break;
      case 'O':
        this.reconcile(r.value ?? 0, r.t);
        break;
      case 'T':
        this.status = r;
        break;
    }
  }

  /** An observed count resets the queue length; the difference is evidence of unreported arrivals or leavers. */
  private reconcile(observed: number, t: number): void {
    const len = this.queue.length;
    if (observed > len) {
      // Unreported arrivals are spread through the queue; place the anonymous entries evenly, with interpolated times.
      const add = observed - len;
      const out: Entry[] = [];
      let k = 0;
      for (let i = 0; i <= len; i++) {
        const target = Math.round(((i + 1) * add) / (len + 1));
        while (k < target) {
          const prevT = i > 0 ? this.queue[i - 1]!.t : this.w.fromMs;
          const nextT = i < len ? this.queue[i]!.t : t;
          out.push({ t: (prevT + nextT) / 2, src: 'observed' });
          k += 1;
        }
        if (i < len) out.push(this.queue[i]!);
      }
      this.queue = out;
    } else if (observed < len) {
      // Vehicles that left silently: drop the oldest first (longest exposed to leaving), anonymous ones before known.
      let drop = len - observed;
      for (const pass of [true, false]) {
        for (let i = 0; i < this.queue.length && drop > 0; ) {
          const e = this.queue[i]!;
          if ((e.ref === undefined) === pass) {
            this.removeAt(i);
            if (e.ref !== undefined) {
              this.ghosts.add(e.ref);
              this.markLeft(e);
            }
            if (e.src === 'arrival') this.silent.v += 1;
            drop -= 1;
          } else i += 1;
        }
      }
    }
    this.lastObsT = t;
  }

  // -------------------------------------------------------------------------------------------------------
  // Estimates from the current statistics

  muPerLane(): number {
    const priorMean = this.prior.serviceTimeMeanSeconds;
    const num = this.satStarts.v + P.durationWeight * this.durN.v + P.priorServices;
    const den = this.laneTime.v + P.durationWeight * this.durSum.v + P.priorServices * priorMean;
    return num / den;
  }

  /** Effective number of observations behind mu (for its uncertainty). */
  muEvidence(): number {
    return this.satStarts.v + this.durN.v + P.priorServices;
  }

  serviceScv(): number {
    const n = this.durN.v;
    const prior = this.prior.serviceTimeScv;
    if (n < 2) return prior;
    const mean = this.durSum.v / n;
    const scv = Math.max(0, this.durSq.v / n - mean * mean) / (mean * mean);
    return (n * scv + 10 * prior) / (n + 10);
  }

  /** Total abandonment rate (reported and silent leavers), per second per waiting vehicle. */
  thetaTotal(): number {
    const patience = this.prior.patienceMeanMinutes;
    const theta0 = patience ? 1 / (patience * 60) : 0;
    const den = this.exposure.v + P.thetaPriorExposureS;
    return (this.abandons.v + this.silent.v + theta0 * P.thetaPriorExposureS) / den;
  }

  /** Rate of silent leavers only. */
  thetaSilent(): number {
    return this.silent.v / (this.exposure.v + P.thetaPriorExposureS);
  }

  missingShare(): number {
    const total = this.matched + this.missing + this.neutral;
    return Math.min(0.8, this.missing / (total + P.missingPrior));
  }

  /** Estimated number waiting at t: listed vehicles that have not silently left, plus unreported arrivals since the last count. */
  queueLengthAt(t: number): { n: number; relVar: number } {
    this.measureQueue(t);
    return { n: this.qN, relVar: this.qRelVar };
  }

  /** Result of the last measureQueue (no object per prediction). */
  qN = 0;
  qRelVar = 0;

  /** queueLengthAt into qN / qRelVar. */
  private measureQueue(t: number): void {
    const silent = this.thetaSilent();
    const f = this.missingShare();
    const queue = this.queue;
    const lastObsT = this.lastObsT;
    let n = 0;
    let recentReported = 0;
    if (silent > 0) {
      for (let i = 0; i < queue.length; i++) {
        const e = queue[i]!;
        if (e.src === 'arrival') {
          n += Math.exp(-silent * (Math.max(0, t - e.t) / 1000));
          if (e.t > lastObsT) recentReported += 1;
        } else n += 1;
      }
    } else {
      for (let i = 0; i < queue.length; i++) {
        const e = queue[i]!;
        n += 1;
        if (e.src === 'arrival' && e.t > lastObsT) recentReported += 1;
      }
    }
    const extra = (recentReported * f) / (1 - f);
    n += extra;
    this.qN = n;
    this.qRelVar = n > 0 ? (extra * (1 + f)) / (n * n) + (f > 0 ? 0.02 : 0) : 0;
  }

  busyLanes(t: number, lanes: number): number {
    if (!this.sawCrossed) return lanes;
    const stale = 8 * this.prior.serviceTimeMeanSeconds * 1000;
    let busy = 0;
    for (const s of this.inService.values()) {
      if (t - s < stale) {
        busy += 1;
        if (busy >= lanes) return lanes; // = Math.min(lanes, busy) for any later count
      }
    }
    return Math.min(lanes, busy);
  }

  /** No lane is open while the crossing is: nobody is served, and nothing says when a lane will reopen. */
  noLanesOpenAt(t: number): boolean {
    return !this.isClosedAt(t) && this.currentLanes() <= 0;
  }

  /**
   * The model's wait distribution for a vehicle joining at t; null when nothing says when service resumes: the
   * crossing is closed with no reopening time, or it is open with no lane open (a closure in all but name).
   */
  predict(t: number): WaitDist | null {
    const closed = this.isClosedAt(t);
    if (closed && this.status!.untilMs === undefined) return null;
    if (this.noLanesOpenAt(t)) return null;
    // during a closure with a known reopening, the lanes at reopening are the last positive count
    const lanes = closed ? (this.lastPositiveLanes ?? this.prior.lanesTypical) : this.currentLanes();
    const mu = this.muPerLane();
    const c = Math.max(lanes, 1) * mu;
    const theta = this.thetaTotal();
    this.measureQueue(t);
    const qN = this.qN;
    const qRelVar = this.qRelVar;
    let offset = 0;
    let k: number;
    if (closed) {
      offset = (this.status!.untilMs! - t) / 1000;
      const n = qN * Math.exp(-theta * offset);
      k = Math.max(0, n + 1 - lanes);
    } else {
      k = Math.max(0, qN + 1 - (lanes - this.busyLanes(t, lanes)));
    }
    if (k <= 0) return { k: 0, offset, p0: 1, mean: 0, shape: 1 };
    const scv = this.serviceScv();
    const kk = Math.max(k, 1);
    const scvEff = (scv * kk + lanes) / (kk + lanes);
    const relVar = scvEff / kk + 1 / this.muEvidence() + qRelVar + P.modelVarFloor;
    const p0 = k < 1 ? 1 - k : 0;
    const mean = k < 1 ? 1 / c : drainSeconds(k, c, theta);
    return { k, offset, p0, mean, shape: 1 / relVar };
  }

  /** HOL: how long the vehicle at the front (with a known arrival) has waited. */
  hol(t: number): number {
    for (const e of this.queue) if (e.src !== 'observed' && !(e.src === 'initial' && e.ref === undefined)) return (t - e.t) / 1000;
    return 0;
  }
}

function replay(w: QueueWindow, profile: ClassProfile, collect: boolean): Replay {
  const rs = new Replay(w, profile, collect);
  // the store returns records sorted already: copy and sort only when they are not (same order either way)
  let records = w.records;
  for (let i = 1; i < records.length; i++) {
    const a = records[i - 1]!;
    const b = records[i]!;
    if (!(a.t < b.t) && compareRecords(a, b) > 0) {
      records = [...w.records].sort(compareRecords);
      break;
    }
  }
  for (const r of records) rs.apply(r);
  rs.advance(w.asOfMs);
  return rs;
}

// ---------------------------------------------------------------------------------------------------------
// Calibration and fusion

interface Calibration {
  /** Maps a nominal quantile level to the level that achieved it on recent realised waits. */
  map: (q: number) => number;
  /** Weight on LES in the fused median (0 = pure model). */
  lesWeight: number;
  samples: number;
}

function calibrate(rs: Replay, asOfMs: number, now: WaitDist): Calibration {
  const heavy = now.k >= P.heavyK;
  // PITs as two parallel arrays (value, weight), in prediction order
  const pv: number[] = [];
  const pw: number[] = [];
  let wSum = 0;
  let errModel = 0;
  let errLes = 0;
  let wLes = 0;
  for (const p of rs.preds) {
    const horizonMs = (p.dist.offset + P.calibHorizon * Math.max(p.median - p.dist.offset, 60)) * 1000;
    if (p.t + horizonMs > asOfMs) continue;
    const recency = Math.exp(-(asOfMs - p.t) / P.calibTauMs);
    let wait: number;
    if (p.outcome === SERVED) wait = p.wait / 1000;
    else if (p.outcome === LEFT) continue;
    else wait = (asOfMs - p.t) / 1000; // still waiting past the horizon: a lower bound, already a miss
    if (p.dist.k >= P.heavyK === heavy) {
      // Estimates are read at arbitrary times, not at arrivals: weight by the time each arrival stands for.
      // coveragePit(p.dist, wait), reusing lnGamma(shape) from the median
      const d = p.dist;
      let v = 0;
      if (!(wait <= d.offset + 0.5)) {
        if (Number.isNaN(p.gln)) p.gln = lnGamma(d.shape);
        v = cdfWith(d, wait, p.gln);
      }
      const w = recency * (p.gap / 60_000);
      pv.push(v);
      pw.push(w);
      wSum += w;
    }
    if (p.outcome === SERVED && p.les !== null) {
      errModel += recency * Math.abs(wait - p.median);
      errLes += recency * Math.abs(wait - p.les);
      wLes += recency;
    }
  }
  let map = (q: number) => q;
  const count = pv.length;
  if (count >= 5) {
    // effective sample size of the weighted scores decides how far to trust them over the nominal level
    let sq = 0;
    for (let i = 0; i < count; i++) sq += pw[i]! * pw[i]!;
    const ess = (wSum * wSum) / sq;
    const shrink = ess / (ess + P.calibPrior);
    const cache = new CoverageCache(pv, pw, wSum);
    map = (q) => {
      // smallest level whose empirical coverage reaches q (coverage is monotone in the level)
      let lo = 0;
      let hi = 1;
      for (let i = 0; i < 30; i++) {
        const mid = (lo + hi) / 2;
        if (cache.at(mid) < q) lo = mid;
        else hi = mid;
      }
      return Math.min(0.995, Math.max(0.005, shrink * hi + (1 - shrink) * q));
    };
  }
  let lesWeight = 0;
  if (wLes > 0 && errModel > errLes) {
    const m = errModel / wLes;
    const l = Math.max(errLes / wLes, 1);
    lesWeight = ((m * m) / (m * m + l * l)) * (wLes / (wLes + P.calibPrior));
  }
  return { map, lesWeight, samples: count };
}

// ---------------------------------------------------------------------------------------------------------
// Cold-start prior

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function localHourAndWeekday(ms: number, zone: string): { hour: number; weekday: number } {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', { timeZone: zone, hour: 'numeric', hourCycle: 'h23', weekday: 'short' });
    formatters.set(zone, f);
  }
  const parts = f.formatToParts(new Date(ms));
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0) % 24;
  const weekday = Math.max(0, WEEKDAYS.indexOf(parts.find((p) => p.type === 'weekday')?.value ?? 'Mon'));
  return { hour, weekday };
}

/** Erlang C: probability of waiting in M/M/s with offered load a = lambda/mu (a < s). */
function erlangC(s: number, a: number): number {
  let term = 1;
  let sum = 1;
  for (let k = 1; k < s; k++) {
    term *= a / k;
    sum += term;
  }
  const last = (term * a) / s;
  const tail = last / (1 - a / s);
  return tail / (sum + tail);
}

/** Steady-state mean wait and queue for this hour of week from the seed profile (wide uncertainty). */
export function priorWait(profile: ClassProfile, localZone: string, atMs: number): { waitSeconds: number; queueLength: number } {
  const { hour, weekday } = localHourAndWeekday(atMs, localZone);
  const lambda = profileArrivalsPerHour(profile, hour, weekday + 1) / 3600;
  const s = Math.max(1, profile.lanesTypical);
  const mu = 1 / profile.serviceTimeMeanSeconds;
  const a = Math.min(lambda / mu, 0.95 * s);
  const wq = lambda > 0 ? (erlangC(s, a) * (1 + profile.serviceTimeScv)) / 2 / (s * mu - a * mu) : 0;
  return { waitSeconds: wq, queueLength: lambda * wq };
}

// ---------------------------------------------------------------------------------------------------------
// The estimate

/**
 * `statusReason` of an open queue with no lane open (lanesOpen 0): published like a closure with no known
 * reopening (no wait figure, method `closed-unknown-reopening`) until a lanes.changed reopens a lane.
 */
export const NO_LANES_OPEN_REASON = 'no lanes open';

const iso = (ms: number): string => new Date(ms).toISOString();
const r0 = (x: number): number => Math.max(0, Math.round(x));

function currentStatus(rec: QueueRecord | null, asOfMs: number): { status: QueueStatus; until: number | null; reason: string | null } {
  if (!rec || rec.status === undefined) return { status: 'open', until: null, reason: null };
  // A closure whose announced reopening has passed is taken as over, even before the `open` event arrives.
  if (rec.status !== 'open' && rec.untilMs !== undefined && rec.untilMs <= asOfMs) return { status: 'open', until: null, reason: null };
  return { status: rec.status, until: rec.untilMs ?? null, reason: rec.reason ?? null };
}

function hasLiveData(w: QueueWindow): boolean {
  if (w.lastEventMs === null) return false;
  if (w.queueLengthAtFrom > 0 || w.lanesAtFrom !== null || w.statusAtFrom !== null) return true;
  return w.records.some((r) => r.kind !== 'C');
}

/**
 * The estimate of a vehicle joining the queue at the window's asOf. `staleAt` is when the queue's silence becomes
 * suspicious (staleness.ts); `stale` says whether asOf is already past it.
 */
export function computeEstimate(window: QueueWindow, ctx: ModelContext): QueueEstimate {
  const est = estimateWithoutStaleness(window, ctx);
  const last = window.lastEventMs;
  if (last === null) return { ...est, stale: true, staleAt: null };
  // the queue as it was at its last event (the estimator's asOf; an API asOf query may be later, when a closure has
  // ended or the queue has drained in the model: what was expected of the silence is judged from its start)
  const atLast = last >= window.asOfMs ? est : estimateWithoutStaleness({ ...window, asOfMs: last }, ctx);
  const statusUntilMs = atLast.statusUntil === null ? null : Date.parse(atLast.statusUntil);
  const staleAtMs = silentSourceAt(last, { ...ctx, status: atLast.status, statusUntilMs, lanesOpen: atLast.lanesOpen, queueLength: atLast.queueLength });
  return { ...est, stale: window.asOfMs > staleAtMs, staleAt: iso(staleAtMs) };
}

function estimateWithoutStaleness(window: QueueWindow, ctx: ModelContext): Omit<QueueEstimate, 'stale' | 'staleAt'> {
  const { profile } = ctx;
  const asOf = window.asOfMs;
  const base = {
    crossingId: window.queue.crossingId,
    direction: window.queue.direction,
    vehicleClass: window.queue.vehicleClass,
    lastEventAt: window.lastEventMs === null ? null : iso(window.lastEventMs),
    asOf: iso(asOf),
    updatedAt: iso(ctx.nowMs),
    revision: ctx.revision,
  };

  if (!hasLiveData(window)) {
    const prior = priorWait(profile, ctx.localZone, asOf);
    const spread = profile.serviceTimeMeanSeconds / Math.max(1, profile.lanesTypical);
    return {
      ...base,
      status: 'open',
      statusUntil: null,
      statusReason: null,
      lanesOpen: profile.lanesTypical,
      queueLength: r0(prior.queueLength),
      waitSeconds: r0(prior.waitSeconds),
      waitP10Seconds: 0,
      waitP90Seconds: r0(3 * prior.waitSeconds + 2 * spread),
      method: 'prior',
    };
  }

  const rs = replay(window, profile, true);
  const st = currentStatus(rs.status, asOf);
  const lanesOpen = r0(rs.currentLanes());
  const q = rs.queueLengthAt(asOf);
  const statusFields = { status: st.status, statusUntil: st.until === null ? null : iso(st.until), statusReason: st.reason, lanesOpen, queueLength: r0(q.n) };

  const dist = rs.predict(asOf);
  if (!dist) {
    // No wait figure, never a stale one. With no lane open the crossing's status says nothing about why, so the
    // reason does (an official's reason for the status, if any, follows it).
    const statusReason = rs.noLanesOpenAt(asOf) ? [NO_LANES_OPEN_REASON, st.reason].filter(Boolean).join('; ') : st.reason;
    return { ...base, ...statusFields, statusReason, waitSeconds: null, waitP10Seconds: null, waitP90Seconds: null, method: 'closed-unknown-reopening' };
  }
  const cal = calibrate(rs, asOf, dist);
  let p10 = calibratedQuantile(dist, LEVELS.p10, cal.map);
  // The median stays the model's own: realised waits are known only after the wait, so recalibrating the centre
  // would drag it toward the past (measured: worse MAE on surges and lane changes). Only the range is recalibrated.
  let p50 = distQuantile(dist, LEVELS.p50);
  let p90 = calibratedQuantile(dist, LEVELS.p90, cal.map);
  const closed = rs.isClosedAt(asOf);
  let method: EstimateMethod = closed ? 'closed-known-reopening' : 'queue-model';
  if (!closed && cal.lesWeight > 0.1 && rs.les !== null) {
    const fused = (1 - cal.lesWeight) * p50 + cal.lesWeight * rs.les;
    const ratio = p50 > 0 ? fused / p50 : 1;
    if (p50 > 0) {
      p10 *= ratio;
      p90 *= ratio;
    } else {
      p90 = Math.max(p90, fused * 1.5);
    }
    p50 = fused;
    method = 'fusion';
  }
  p10 = Math.min(p10, p50);
  p90 = Math.max(p90, p50);
  return { ...base, ...statusFields, waitSeconds: r0(p50), waitP10Seconds: r0(p10), waitP90Seconds: r0(p90), method };
}

// ---------------------------------------------------------------------------------------------------------
// Baselines from a window

/** LES and HOL read only the line, not the capacity: any profile will do for the replay. */
const baselineProfile = (w: QueueWindow): ClassProfile => ({
  vehicleClass: w.queue.vehicleClass,
  lanesTypical: 1,
  lanesMax: 1,
  serviceTimeMeanSeconds: 60,
  serviceTimeScv: 1,
  hourlyArrivals: new Array<number>(24).fill(0),
  weekdayFactors: [1, 1, 1, 1, 1, 1, 1],
  estimate: true,
});

/** LES: the wait of the most recent vehicle that entered service (seconds), or null if none is known. */
export function lesEstimate(window: QueueWindow): number | null {
  return replay(window, baselineProfile(window), false).les;
}

/** HOL: how long the vehicle now at the head of the line has waited (seconds); 0 when nobody is known to wait. */
export function holEstimate(window: QueueWindow): number {
  return replay(window, baselineProfile(window), false).hol(window.asOfMs);
}
