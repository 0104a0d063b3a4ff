/**
 * End-of-test report for every journey: a compact text summary for stdout (the k6 jslib `textSummary` would
 * need network access at run time) and a JSON verdict for CI. Pure functions over k6's summary data (no k6
 * imports), so the unit test can render a recorded summary.
 */

export interface MetricSummary {
  type: 'counter' | 'gauge' | 'rate' | 'trend';
  contains: 'default' | 'time' | 'data';
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

/** The parts of k6's handleSummary() argument this report reads. */
export interface SummaryData {
  metrics: Record<string, MetricSummary>;
  state?: { testRunDurationMs?: number };
}

export interface RunInfo {
  journey: string;
  profile: string;
  baseUrl: string;
  /** Where to write the JSON verdict; empty = stdout only. */
  summaryPath: string;
}

export interface Verdict {
  journey: string;
  profile: string;
  target: string;
  passed: boolean;
  durationSeconds: number | null;
  thresholds: { metric: string; threshold: string; ok: boolean }[];
  metrics: Record<string, MetricSummary>;
}

/** Never put credentials embedded in a URL (user:pass@host) into a report. */
export const redactUrl = (url: string): string => url.replace(/\/\/[^/@]*@/, '//');

export function verdict(data: SummaryData, run: RunInfo): Verdict {
  const thresholds: Verdict['thresholds'] = [];
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name] as MetricSummary;
    for (const [threshold, r] of Object.entries(m.thresholds ?? {})) thresholds.push({ metric: name, threshold, ok: r.ok });
  }
  const ms = data.state?.testRunDurationMs;
  return {
    journey: run.journey,
    profile: run.profile,
    target: redactUrl(run.baseUrl),
    passed: thresholds.every((t) => t.ok),
    durationSeconds: typeof ms === 'number' ? Math.round(ms) / 1000 : null,
    thresholds,
    metrics: data.metrics,
  };
}

function formatNumber(value: number, contains: MetricSummary['contains']): string {
  if (contains === 'time') return value >= 1000 ? `${(value / 1000).toFixed(2)}s` : `${value.toFixed(2)}ms`;
  if (contains === 'data') return value >= 1048576 ? `${(value / 1048576).toFixed(2)} MiB` : `${(value / 1024).toFixed(1)} KiB`;
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

function describeMetric(m: MetricSummary): string {
  const v = m.values;
  switch (m.type) {
    case 'trend':
      return Object.entries(v)
        .map(([stat, x]) => `${stat}=${formatNumber(x, m.contains)}`)
        .join(' ');
    case 'rate': {
      const passes = v.passes ?? 0;
      const fails = v.fails ?? 0;
      return `${((v.rate ?? 0) * 100).toFixed(2)}% (${passes} of ${passes + fails})`;
    }
    case 'counter':
      return `${formatNumber(v.count ?? 0, m.contains)} (${(v.rate ?? 0).toFixed(2)}/s)`;
    case 'gauge':
      return `${formatNumber(v.value ?? 0, m.contains)} (min ${formatNumber(v.min ?? 0, m.contains)}, max ${formatNumber(v.max ?? 0, m.contains)})`;
  }
}

export function textSummary(data: SummaryData, run: RunInfo): string {
  const v = verdict(data, run);
  const lines: string[] = [];
  lines.push('', `  ${v.journey} (profile ${v.profile}) against ${v.target}${v.durationSeconds === null ? '' : ` in ${v.durationSeconds}s`}`, '');
  lines.push('  thresholds (the verdict):');
  if (v.thresholds.length === 0) lines.push('    (none evaluated)');
  for (const t of v.thresholds) lines.push(`    ${t.ok ? 'ok  ' : 'FAIL'} ${t.metric}: ${t.threshold}`);
  lines.push('', '  metrics:');
  const names = Object.keys(data.metrics).sort();
  const width = Math.max(0, ...names.map((n) => n.length));
  for (const name of names) lines.push(`    ${name.padEnd(width)}  ${describeMetric(data.metrics[name] as MetricSummary)}`);
  lines.push('', `  verdict: ${v.passed ? 'PASSED' : 'FAILED'}`, '');
  return lines.join('\n');
}

/** handleSummary() result: text on stdout, and the JSON verdict at `summaryPath` when one is given. */
export function summaryOutputs(data: SummaryData, run: RunInfo): Record<string, string> {
  const out: Record<string, string> = { stdout: textSummary(data, run) };
  if (run.summaryPath) out[run.summaryPath] = `${JSON.stringify(verdict(data, run), null, 2)}\n`;
  return out;
}
