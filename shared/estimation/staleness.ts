/**
 * When a queue's silence becomes suspicious: the time from which "no event since lastEventAt" is no longer what
 * the queue's usual traffic explains, so its source is probably down (the estimate's `staleAt`).
 *
 * A fixed threshold (STALE_AFTER_SECONDS) calls every quiet queue silent: at 03:00 a bus queue that sees two buses
 * an hour goes 15 minutes without an event more often than not, and the dashboard's "Silent source" alerts then
 * fired for most queues every night. Here a queue turns stale once BOTH
 * - the fixed threshold has passed, and
 * - at least `SILENCE_EXPECTED_EVENTS` events were expected in the silence (Poisson: P(none) = e^-4.6 = 1 %), from
 *   the catalogue profile's arrivals for each local hour and weekday, plus the service starts of the vehicles the
 *   estimate has waiting at the lanes it has open (a long queue that stops moving is suspicious even at night),
 * and at the latest after `MAX_SILENCE_MS` (a crossing with no traffic at all for half a day is worth a look).
 */
import type { ClassProfile } from '../catalogue/schema.ts';

/** ln(100): at least one event was 99 % likely in the silence. */
export const SILENCE_EXPECTED_EVENTS = Math.log(100);
export const MAX_SILENCE_MS = 12 * 3_600_000;
const STEP_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();
/** The zone's UTC offset at `ms` (the zones of Central Asia keep one offset all year; it is read once per call). */
function zoneOffsetMs(ms: number, zone: string): number {
  let f = offsetFormatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    offsetFormatters.set(zone, f);
  }
  const p: Record<string, number> = {};
  for (const part of f.formatToParts(new Date(ms))) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour! % 24, p.minute!, p.second!);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

export interface SilenceContext {
  staleAfterMs: number;
  /** The latest staleAt after the last event (STALE_QUIET_MAX_SECONDS); default MAX_SILENCE_MS, never below staleAfterMs. */
  maxSilenceMs?: number;
  profile: ClassProfile;
  localZone: string;
  /** What the estimate says at the last event: service starts are expected only when open with lanes and a queue. */
  status: 'open' | 'closed' | 'restricted';
  lanesOpen: number;
  queueLength: number;
}

/** Epoch ms from which the queue counts as stale if no event arrives after `lastEventMs` (see the file comment). */
export function silentSourceAt(lastEventMs: number, ctx: SilenceContext): number {
  const earliest = lastEventMs + ctx.staleAfterMs;
  const latest = lastEventMs + Math.max(ctx.staleAfterMs, ctx.maxSilenceMs ?? MAX_SILENCE_MS);
  if (latest <= earliest) return earliest;
  const offset = zoneOffsetMs(lastEventMs, ctx.localZone);
  const serving = ctx.status !== 'closed' && ctx.lanesOpen > 0 && ctx.queueLength > 0;
  const servicePerMs = serving ? ctx.lanesOpen / (ctx.profile.serviceTimeMeanSeconds * 1000) : 0;
  /** Expected arrivals per ms at local time of `t`. */
  const arrivalsPerMs = (t: number): number => {
    const local = t + offset;
    const hour = Math.floor(local / HOUR_MS) % 24;
    const weekday = (Math.floor(local / DAY_MS) + 3) % 7; // 1970-01-01 was a Thursday; index 0 = Monday
    return ((ctx.profile.hourlyArrivals[hour] ?? 0) * (ctx.profile.weekdayFactors[weekday] ?? 1)) / HOUR_MS;
  };
  const expected = (arrivals: number, t: number) => arrivals + Math.min(ctx.queueLength, servicePerMs * (t - lastEventMs));
  let arrivals = 0;
  for (let t = lastEventMs; t < latest; ) {
    const next = Math.min(latest, t + STEP_MS - ((t + offset) % STEP_MS));
    const rate = arrivalsPerMs(t);
    const after = arrivals + rate * (next - t);
    if (expected(after, next) >= SILENCE_EXPECTED_EVENTS) {
      // inside this step: the expected count grows linearly in each part, so bisect for the crossing
      let lo = t;
      let hi = next;
      while (hi - lo > 1000) {
        const mid = (lo + hi) / 2;
        if (expected(arrivals + rate * (mid - t), mid) >= SILENCE_EXPECTED_EVENTS) hi = mid;
        else lo = mid;
      }
      return Math.max(earliest, Math.ceil(hi));
    }
    arrivals = after;
    t = next;
  }
  return latest;
}
