/**
 * Scoring for the accuracy benchmark: per probe, our published estimate and the baselines (LES, HOL, QL told the
 * true service rate and the true queue) beside the probe's true wait; then MAE, RMSE, bias and p90 coverage.
 * The estimate source is pluggable: in-process (window oracle -> model) or the real pipeline (see pipeline.ts).
 */
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import type { KezekEvent } from '../../shared/events/index.ts';
import type { QueueEstimate } from '../../shared/estimates.ts';
import { recordsFromEvents, windowFromRecords } from '../../shared/estimation/reference-window.ts';
import { computeEstimate, holEstimate, lesEstimate, MODEL_LOOKBACK_MS, qlTrueRate, type ModelContext } from '../../shared/estimation/model.ts';
import type { QueueRef } from '../../shared/queue-store/api.ts';
import { stepValueAt, type ScenarioSpec, type SimResult, type SimVehicle } from '../../shared/sim/des.ts';

export interface ProbeRow {
  atMs: number;
  truth: number;
  ours: number | null;
  p10: number | null;
  p90: number | null;
  method: string;
  les: number;
  hol: number;
  ql: number;
}

export interface Metrics {
  n: number;
  mae: number;
  rmse: number;
  bias: number;
}

export interface ScenarioScore {
  scenario: string;
  seeds: number[];
  probes: number;
  /** Mean true wait over the probes (seconds), for scale. */
  meanTrueWait: number;
  /** Probes where we published no figure (closed with unknown reopening). */
  nullEstimates: number;
  ours: Metrics;
  les: Metrics;
  hol: Metrics;
  ql: Metrics;
  /** Share of true waits <= our p90, and inside [p10, p90]. */
  p90Coverage: number;
  p10p90Coverage: number;
  /** p90 coverage over the probes whose true wait is positive (a zero wait is covered by any p90). */
  p90CoveragePositive: number;
  methods: Record<string, number>;
}

export const queueOf = (spec: ScenarioSpec): QueueRef => ({ crossingId: spec.crossingId, direction: spec.direction, vehicleClass: spec.vehicleClass });

export function modelContext(catalogue: Catalogue, q: QueueRef, nowMs = 0): ModelContext {
  const profile = catalogue.profile(q.crossingId, q.vehicleClass);
  const localZone = catalogue.localZone(q.crossingId);
  if (!profile || !localZone) throw new Error(`no catalogue profile for ${q.crossingId}/${q.vehicleClass}`);
  return { profile, localZone, staleAfterMs: 15 * 60_000, nowMs, revision: 0 };
}

/** QL told the truth: the true number waiting, the true lanes and busy lanes, and the true mean service rate. */
export function qlTruth(spec: ScenarioSpec, vehicles: readonly SimVehicle[], t: number): number {
  let waiting = 0;
  let busy = 0;
  for (const v of vehicles) {
    if (v.arrivedMs > t) continue;
    const started = v.serviceStartMs !== undefined && v.serviceStartMs <= t;
    const left = v.abandonedMs !== undefined && v.abandonedMs <= t;
    if (!started && !left) waiting += 1;
    else if (started && (v.departMs === undefined || v.departMs > t)) busy += 1;
  }
  const lanes = stepValueAt(spec.lanes, t);
  return qlTrueRate(waiting, lanes, 1 / spec.serviceTimeMeanSeconds, busy);
}

/** Estimates at each probe time, computed in-process (reference window -> model): phase A. */
export function inProcessEstimator(catalogue: Catalogue = loadCatalogue()) {
  return (spec: ScenarioSpec, sim: SimResult): Map<number, QueueEstimate> => {
    const q = queueOf(spec);
    const ctx = modelContext(catalogue, q);
    const records = recordsFromEvents(sim.events, q);
    const out = new Map<number, QueueEstimate>();
    for (const p of sim.probes) {
      const w = windowFromRecords(records, q, p.atMs, MODEL_LOOKBACK_MS);
      out.set(p.atMs, computeEstimate(w, ctx));
    }
    return out;
  };
}

/** One row per probe with a finite true wait, within the scenario's event span. */
export function scoreRows(spec: ScenarioSpec, sim: SimResult, estimates: Map<number, QueueEstimate>, events: readonly KezekEvent[] = sim.events): ProbeRow[] {
  const q = queueOf(spec);
  const records = recordsFromEvents(events, q);
  const rows: ProbeRow[] = [];
  for (const p of sim.probes) {
    if (!Number.isFinite(p.trueWaitSeconds)) continue;
    const est = estimates.get(p.atMs);
    if (!est) throw new Error(`no estimate for probe at ${new Date(p.atMs).toISOString()}`);
    const w = windowFromRecords(records, q, p.atMs, MODEL_LOOKBACK_MS);
    rows.push({
      atMs: p.atMs,
      truth: p.trueWaitSeconds,
      ours: est.waitSeconds,
      p10: est.waitP10Seconds,
      p90: est.waitP90Seconds,
      method: est.method,
      les: lesEstimate(w) ?? 0,
      hol: holEstimate(w),
      ql: qlTruth(spec, sim.vehicles, p.atMs),
    });
  }
  return rows;
}

function metrics(pairs: [number, number][]): Metrics {
  const n = pairs.length;
  if (n === 0) return { n, mae: NaN, rmse: NaN, bias: NaN };
  let abs = 0;
  let sq = 0;
  let sum = 0;
  for (const [est, truth] of pairs) {
    const e = est - truth;
    abs += Math.abs(e);
    sq += e * e;
    sum += e;
  }
  return { n, mae: abs / n, rmse: Math.sqrt(sq / n), bias: sum / n };
}

export function summarise(scenario: string, seeds: number[], rows: ProbeRow[]): ScenarioScore {
  const scored = rows.filter((r) => r.ours !== null);
  const methods: Record<string, number> = {};
  for (const r of rows) methods[r.method] = (methods[r.method] ?? 0) + 1;
  const positive = scored.filter((r) => r.truth > 0);
  const covered = scored.filter((r) => r.truth <= (r.p90 ?? Infinity)).length;
  const inside = scored.filter((r) => r.truth <= (r.p90 ?? Infinity) && r.truth >= (r.p10 ?? 0)).length;
  return {
    scenario,
    seeds,
    probes: rows.length,
    meanTrueWait: rows.reduce((a, r) => a + r.truth, 0) / Math.max(1, rows.length),
    nullEstimates: rows.length - scored.length,
    ours: metrics(scored.map((r) => [r.ours!, r.truth])),
    // Baselines are scored on the same probes as ours.
    les: metrics(scored.map((r) => [r.les, r.truth])),
    hol: metrics(scored.map((r) => [r.hol, r.truth])),
    ql: metrics(scored.map((r) => [r.ql, r.truth])),
    p90Coverage: scored.length ? covered / scored.length : NaN,
    p10p90Coverage: scored.length ? inside / scored.length : NaN,
    p90CoveragePositive: positive.length ? positive.filter((r) => r.truth <= (r.p90 ?? Infinity)).length / positive.length : NaN,
    methods,
  };
}

export interface Verdict {
  meanRatioVsLes: number;
  maxRatioVsLes: number;
  steadyRatioVsQl: number | null;
  coverageOk: boolean;
  pass: boolean;
  lines: string[];
}

/** Acceptance targets from the issue. */
export function verdict(scores: ScenarioScore[], qlScenario = 'steady'): Verdict {
  const ratios = scores.map((s) => s.ours.mae / s.les.mae);
  const meanRatio = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  const maxRatio = Math.max(...ratios);
  const steady = scores.find((s) => s.scenario === qlScenario);
  const steadyRatio = steady ? steady.ours.mae / steady.ql.mae : null;
  const coverageOk = scores.every((s) => s.p90Coverage >= 0.85 && s.p90Coverage <= 0.95);
  const lines = [
    `${meanRatio <= 0.5 ? 'PASS' : 'FAIL'} mean over scenarios of MAE/LES-MAE = ${meanRatio.toFixed(3)} (target <= 0.5)`,
    `${maxRatio <= 0.9 ? 'PASS' : 'FAIL'} worst scenario MAE/LES-MAE = ${maxRatio.toFixed(3)} (target <= 0.9)`,
    steadyRatio === null ? `SKIP ${qlScenario} not run` : `${steadyRatio <= 1.2 ? 'PASS' : 'FAIL'} ${qlScenario}: MAE/QL-true-rate MAE = ${steadyRatio.toFixed(3)} (target <= 1.2)`,
    `${coverageOk ? 'PASS' : 'FAIL'} p90 coverage in [0.85, 0.95] in every scenario (${scores.map((s) => `${s.scenario} ${s.p90Coverage.toFixed(3)}`).join(', ')})`,
  ];
  const pass = meanRatio <= 0.5 && maxRatio <= 0.9 && (steadyRatio === null || steadyRatio <= 1.2) && coverageOk;
  return { meanRatioVsLes: meanRatio, maxRatioVsLes: maxRatio, steadyRatioVsQl: steadyRatio, coverageOk, pass, lines };
}

const m = (s: number): string => (Number.isFinite(s) ? (s / 60).toFixed(1) : '-');

/** Markdown table, minutes. */
export function formatTable(scores: ScenarioScore[]): string {
  const head = '| scenario | probes | mean true wait | ours MAE | RMSE | bias | p90 cov | p90 cov (wait>0) | p10-p90 | LES MAE | HOL MAE | QL-true MAE | ours/LES | ours/QL | methods |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const rows = scores.map((s) =>
    [
      s.scenario,
      `${s.probes}${s.nullEstimates ? ` (${s.nullEstimates} null)` : ''}`,
      m(s.meanTrueWait),
      m(s.ours.mae),
      m(s.ours.rmse),
      m(s.ours.bias),
      s.p90Coverage.toFixed(3),
      s.p90CoveragePositive.toFixed(3),
      s.p10p90Coverage.toFixed(3),
      m(s.les.mae),
      m(s.hol.mae),
      m(s.ql.mae),
      (s.ours.mae / s.les.mae).toFixed(3),
      (s.ours.mae / s.ql.mae).toFixed(3),
      Object.entries(s.methods)
        .map(([k, v]) => `${k} ${v}`)
        .join(', '),
    ].join(' | '),
  );
  return [head, sep, ...rows.map((r) => `| ${r} |`)].join('\n');
}
