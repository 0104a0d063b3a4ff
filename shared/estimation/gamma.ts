/**
 * Gamma distribution helpers for the wait-time range: regularised lower incomplete gamma P(a, x) and its
 * inverse. Numerical Recipes style (series below a+1, Lentz continued fraction above); accurate to ~1e-10,
 * which is far below the model's own uncertainty.
 */

const LANCZOS = [76.18009172947146, -86.50532032941678, 24.01409824083091, -1.231739572450155, 0.001208650973866179, -0.000005395239384953];

export function lnGamma(x: number): number {
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const c of LANCZOS) ser += c / ++y;
  return -tmp + Math.log((2.5066282746310007 * ser) / x);
}

/** Regularised lower incomplete gamma P(a, x) = CDF at x of Gamma(shape a, scale 1). */
export function gammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  if (!Number.isFinite(x)) return 1;
  return gammaPWith(a, x, lnGamma(a), Math.log(x));
}

/**
 * gammaP for x > 0 finite, with lnGamma(a) and log(x) supplied by the caller (the quantile search and the
 * calibration reuse them): the same operations in the same order as gammaP, so the same result to the bit.
 */
export function gammaPWith(a: number, x: number, gln: number, logX: number): number {
  if (x < a + 1) {
    let ap = a;
    let del = 1 / a;
    let sum = del;
    for (let i = 0; i < 500; i++) {
      ap += 1;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-12) break;
    }
    return Math.min(1, sum * Math.exp(-x + a * logX - gln));
  }
  const FPMIN = 1e-300;
  let b = x + 1 - a;
  let c = 1 / FPMIN;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 500; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < FPMIN) d = FPMIN;
    c = b + an / c;
    if (Math.abs(c) < FPMIN) c = FPMIN;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-12) break;
  }
  return Math.max(0, 1 - Math.exp(-x + a * logX - gln) * h);
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
// coefficients hoisted out of normalQuantile (called for every quantile)
const NQ_A = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239] as const;
const NQ_B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572] as const;
const NQ_C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783] as const;
const NQ_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416] as const;

export function normalQuantile(p: number): number {
  const a = NQ_A;
  const b = NQ_B;
  const c = NQ_C;
  const d = NQ_D;
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/**
 * Quantile of Gamma(shape a, scale 1) at probability p: Wilson-Hilferty start, then safeguarded Newton steps
 * (bisection inside a bracket whenever Newton would leave it). Converges in a handful of steps.
 */
export function gammaQuantile(p: number, a: number): number {
  return gammaQuantileWith(p, a, lnGamma(a));
}

/** gammaQuantile with lnGamma(a) supplied by the caller (bit-identical to gammaQuantile). */
export function gammaQuantileWith(p: number, a: number, gln: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return Infinity;
  const z = normalQuantile(p);
  const h = 1 / (9 * a);
  let x = a * Math.pow(Math.max(1 - h + z * Math.sqrt(h), 0.05), 3);
  let lo = 0;
  let hi = Infinity;
  for (let i = 0; i < 60; i++) {
    // gammaP(a, x) with lnGamma(a) computed once and log(x) shared with the density below
    const logX = x > 0 && Number.isFinite(x) ? Math.log(x) : NaN;
    const f = (x <= 0 ? 0 : !Number.isFinite(x) ? 1 : gammaPWith(a, x, gln, logX)) - p;
    if (Math.abs(f) < 1e-10) break;
    if (f < 0) lo = x;
    else hi = x;
    const pdf = Math.exp((a - 1) * (x > 0 && Number.isFinite(x) ? logX : Math.log(x)) - x - gln);
    let next = x - f / pdf;
    if (!(next > lo && next < hi) || !Number.isFinite(next)) next = Number.isFinite(hi) ? (lo + hi) / 2 : x * 2;
    if (Math.abs(next - x) <= 1e-12 * x) {
      x = next;
      break;
    }
    x = next;
  }
  return x;
}
