/**
 * Pure helpers of the benchmark suite: percentiles, ratios, verdicts and the result table. No I/O, no clocks,
 * so test/unit/bench.test.ts can check them.
 */

/** Nearest-rank percentile (p in [0, 100]) of unsorted samples; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100], got ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** value / baseline, or null when either is not a positive finite number. */
export function ratio(value: number, baseline: number): number | null {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0 || value < 0) return null;
  return value / baseline;
}

/** Median of unsorted samples (mean of the middle two for an even count); NaN for no samples. */
export function median(samples: readonly number[]): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Ratio of interleaved rounds: round i measured `values[i]` right after (or before) `baselines[i]`, so each pair
 * saw the same machine state. The median of the per-round ratios resists a noisy round (a neighbour's burst of
 * CPU) far better than the ratio of two averages taken minutes apart. null when no round has a valid ratio.
 */
export function pairedRatio(values: readonly number[], baselines: readonly number[]): number | null {
  const ratios = roundRatios(values, baselines);
  return ratios.length === 0 ? null : median(ratios);
}

function roundRatios(values: readonly number[], baselines: readonly number[]): number[] {
  return values.map((v, i) => ratio(v, baselines[i] ?? NaN)).filter((r): r is number => r !== null);
}

/** The paired ratio with the spread of the rounds it is the median of: "53% (rounds 47-61%)"; plain with one round. */
export function fmtPairedRatio(values: readonly number[], baselines: readonly number[], threshold?: number): string {
  const ratios = roundRatios(values, baselines);
  if (ratios.length < 2) return fmtRatio(pairedRatio(values, baselines), threshold);
  const pct = (r: number) => (r * 100).toFixed(0);
  return `${fmtRatio(median(ratios), threshold)} (rounds ${pct(Math.min(...ratios))}-${pct(Math.max(...ratios))}%)`;
}

/** One measurement's upper latency tail: `values[k]` is its percentile `fromPct + k * stepPct` (non-decreasing). */
export interface LatencyTail {
  count: number;
  fromPct: number;
  stepPct: number;
  values: readonly number[];
}

/**
 * The percentile `pct` of several measurements pooled, as if every request of every round were one sample set:
 * each round's CDF is read off its tail (F(v) = the highest percentile point at or below v, and fromPct below its
 * first point), weighted by its request count, and the answer is the smallest tail value where the pooled CDF
 * reaches `pct`. Exact to the tails' step. NaN when pct is below a tail's start or there is nothing to pool.
 */
export function pooledPercentile(tails: readonly LatencyTail[], pct: number): number {
  const total = tails.reduce((a, t) => a + t.count, 0);
  if (total <= 0 || tails.some((t) => pct < t.fromPct || t.values.length === 0)) return NaN;
  const cdf = (t: LatencyTail, v: number): number => {
    // values are non-decreasing: binary search for the last point <= v
    let lo = 0;
    let hi = t.values.length - 1;
    if (t.values[0]! > v) return t.fromPct;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (t.values[mid]! <= v) lo = mid;
      else hi = mid - 1;
    }
    return Math.min(100, t.fromPct + lo * t.stepPct);
  };
  const candidates = [...new Set(tails.flatMap((t) => t.values))].sort((a, b) => a - b);
  for (const v of candidates) {
    const f = tails.reduce((a, t) => a + t.count * cdf(t, v), 0) / total;
    if (f >= pct - 1e-9) return v;
  }
  return candidates[candidates.length - 1] ?? NaN;
}

export type Verdict = 'PASS' | 'FAIL' | 'info' | 'n/a';

/** A target on one number: `>=` or `<` a threshold. Missing numbers never pass. */
export interface Target {
  op: '>=' | '<' | '<=';
  threshold: number;
  /** What the threshold is stated on, for the table, e.g. "ratio >= 0.60". */
  label: string;
}

export function judge(value: number | null | undefined, target: Target | undefined): Verdict {
  if (!target) return 'info';
  if (value === null || value === undefined || !Number.isFinite(value)) return 'n/a';
  const ok = target.op === '>=' ? value >= target.threshold : target.op === '<' ? value < target.threshold : value <= target.threshold;
  return ok ? 'PASS' : 'FAIL';
}

/** One line of the result table. */
export interface ResultRow {
  /** Row group: "1 ingest", "2 freshness", ... */
  group: string;
  what: string;
  result: string;
  baseline: string;
  ratio: string;
  target: string;
  verdict: Verdict;
  /** Raw numbers for latest.json. */
  data?: Record<string, unknown>;
}

/** Human formatting of a number with a unit; '-' for missing values. */
export function fmt(n: number | null | undefined, unit = '', digits?: number, threshold?: number): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  const d = besideThreshold(n, digits ?? (Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2), threshold);
  const s = n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
  return unit ? `${s} ${unit}` : s;
}

/**
 * The digits to show `n` with: `digits`, or up to 3 more while `n` would read as a target's `threshold` without
 * being it (a ratio of 0.598 shown as "60%" beside a FAIL of ">= 60%", a p99 of 4.96 ms as "5.0 ms" beside a PASS
 * of "< 5 ms"): a judged figure reads as the threshold only when it is the threshold.
 */
function besideThreshold(n: number, digits: number, threshold: number | undefined): number {
  if (threshold === undefined || n === threshold) return digits;
  let d = digits;
  while (d < digits + 3 && Number(n.toFixed(d)) === threshold) d++;
  return d;
}

/** A ratio as a percentage; `threshold` (a ratio, e.g. 0.6): see besideThreshold. */
export const fmtRatio = (r: number | null, threshold?: number): string => {
  if (r === null) return '-';
  const pct = r * 100;
  const s = pct.toFixed(besideThreshold(pct, 0, threshold === undefined ? undefined : threshold * 100));
  // a tiny negative ratio rounds to "-0": it reads as 0
  return `${Number(s) === 0 ? s.replace('-', '') : s}%`;
};

export const fmtBytes = (b: number | null | undefined): string => (b === null || b === undefined || !Number.isFinite(b) ? '-' : `${(b / 1024 / 1024).toFixed(1)} MiB`);

const COLUMNS: { key: keyof ResultRow; title: string }[] = [
  { key: 'group', title: 'row' },
  { key: 'what', title: 'measurement' },
  { key: 'result', title: 'result' },
  { key: 'baseline', title: 'baseline' },
  { key: 'ratio', title: 'ratio' },
  { key: 'target', title: 'target' },
  { key: 'verdict', title: 'verdict' },
];

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A Markdown table (also readable as plain text in a terminal): columns padded to the widest cell. */
export function formatTable(rows: readonly ResultRow[]): string {
  const cells = rows.map((r) => COLUMNS.map((c) => cell(String(r[c.key] ?? ''))));
  const widths = COLUMNS.map((c, i) => Math.max(c.title.length, 3, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(COLUMNS.map((c) => c.title)), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** `--only ingest,polling` -> the selected row names; unknown names throw. */
export function parseOnly(raw: string | undefined, known: readonly string[]): string[] {
  if (raw === undefined || raw.trim() === '') return [...known];
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !known.includes(n));
  if (bad.length) throw new Error(`unknown row(s) ${bad.join(', ')}; choose from ${known.join(', ')}`);
  return known.filter((k) => names.includes(k));
}

/** Relative change from a to b (0.05 = +5 %), null when a is not positive. */
export function growth(a: number, b: number): number | null {
  if (!(a > 0) || !Number.isFinite(b)) return null;
  return (b - a) / a;
}
