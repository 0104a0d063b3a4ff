/**
 * Seeded pseudo-random numbers for the simulators. Never Math.random: every simulated day must be reproducible
 * from its seed. mulberry32 is small, fast and good enough for queueing simulation (not for cryptography).
 *
 * Independent streams (arrivals, service times, patience, reporting, ...) are derived from one seed with
 * `deriveSeed(seed, label)`, so changing one aspect of a scenario (e.g. patience) does not reshuffle the others:
 * common random numbers make scenario comparisons meaningful.
 */

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
}

/** mulberry32: 32-bit state, period 2^32. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** FNV-1a over the seed and a label, finished with a murmur3 avalanche: a 32-bit seed per named stream. */
export function deriveSeed(seed: number, label: string): number {
  const s = `${seed}:${label}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export const createRng = (seed: number, label = 'main'): Rng => mulberry32(deriveSeed(seed, label));

/** Uniform in (0, 1]: safe for log(). */
const openUnit = (rng: Rng): number => 1 - rng.next();

export function exponential(rng: Rng, mean: number): number {
  return -Math.log(openUnit(rng)) * mean;
}

/** Standard normal (Marsaglia polar method; the spare value is discarded to keep the stream position simple). */
export function standardNormal(rng: Rng): number {
  for (;;) {
    const u = 2 * rng.next() - 1;
    const v = 2 * rng.next() - 1;
    const s = u * u + v * v;
    if (s > 0 && s < 1) return u * Math.sqrt((-2 * Math.log(s)) / s);
  }
}

/** Gamma(shape, scale) by Marsaglia-Tsang; shape < 1 via the boost Gamma(shape+1) * U^(1/shape). */
export function gamma(rng: Rng, shape: number, scale: number): number {
  if (!(shape > 0) || !(scale > 0)) throw new RangeError(`gamma needs shape > 0 and scale > 0 (got ${shape}, ${scale})`);
  if (shape < 1) return gamma(rng, shape + 1, scale) * Math.pow(openUnit(rng), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = openUnit(rng);
    if (u < 1 - 0.0331 * x * x * x * x) return d * v * scale;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v * scale;
  }
}

/**
 * Gamma with the given mean and squared coefficient of variation (variance / mean^2).
 * scv = 1 is the exponential distribution; scv -> 0 approaches a constant.
 */
export function gammaByMeanScv(rng: Rng, mean: number, scv: number): number {
  if (!(scv > 0)) throw new RangeError(`scv must be > 0 (got ${scv})`);
  return gamma(rng, 1 / scv, mean * scv);
}

/** Poisson-distributed count (Knuth for small means, normal approximation above 60). */
export function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 60) return Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormal(rng)));
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng.next();
  } while (p > l);
  return k - 1;
}

/** Integer in [min, max] inclusive. */
export function intBetween(rng: Rng, min: number, max: number): number {
  return min + Math.floor(rng.next() * (max - min + 1));
}

export const bernoulli = (rng: Rng, p: number): boolean => (p >= 1 ? true : p <= 0 ? false : rng.next() < p);
