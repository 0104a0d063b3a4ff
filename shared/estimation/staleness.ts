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
 * A closure with a known reopening restarts that clock at the reopening: no service starts are expected before it,
 * and both the threshold and the cap count from it (an overnight closure is not a silent source).
 */
import { profileArrivalsPerHour, type ClassProfile } from '../catalogue/schema.ts';
import { localPartsOf, zoneOffsetMs } from '../sim/zone.ts';

/** ln(100): at least one event was 99 % likely in the silence. */
export const SILENCE_EXPECTED_EVENTS = Math.log(100);
export const MAX_SILENCE_MS = 12 * 3_600_000;
const STEP_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;

export interface SilenceContext {
  staleAfterMs: number;
  /** The latest staleAt after the last event (STALE_QUIET_MAX_SECONDS); default MAX_SILENCE_MS, never below staleAfterMs. */
  maxSilenceMs?: number;
  profile: ClassProfile;
  localZone: string;
  /** The queue at its last event: service starts are expected only with lanes open and vehicles waiting. */
  status: 'open' | 'closed' | 'restricted';
  /** When a closure ends (epoch ms), if known: service starts are expected from then on. */
  statusUntilMs?: number | null;
  lanesOpen: number;
  queueLength: number;
}

/** Epoch ms from which the queue counts as stale if no event arrives after `lastEventMs` (see the file comment). */
export function silentSourceAt(lastEventMs: number, ctx: SilenceContext): number {
  const closedUntil = ctx.status === 'closed' && ctx.statusUntilMs != null && ctx.statusUntilMs > lastEventMs ? ctx.statusUntilMs : null;
  // a known closure restarts the silence clock at its end: the threshold and the cap count from there
  const from = closedUntil ?? lastEventMs;
  const earliest = from + ctx.staleAfterMs;
  const latest = Math.max(earliest, from + (ctx.maxSilenceMs ?? MAX_SILENCE_MS));
  if (latest <= earliest) return earliest;
  // service starts: from the last event while open, from the reopening when a closure's end is known, else none
  const serviceFrom = ctx.status === 'closed' ? closedUntil : lastEventMs;
  const serving = serviceFrom !== null && ctx.lanesOpen > 0 && ctx.queueLength > 0;
  const servicePerMs = serving ? ctx.lanesOpen / (ctx.profile.serviceTimeMeanSeconds * 1000) : 0;
  // the zone's offset, read again only when the step enters another UTC hour (it follows DST)
  let offsetHour = NaN;
  let offset = 0;
  const offsetAt = (t: number): number => {
    const h = Math.floor(t / HOUR_MS);
    if (h !== offsetHour) {
      offsetHour = h;
      offset = zoneOffsetMs(ctx.localZone, t);
    }
    return offset;
  };
  /** Expected arrivals per ms at local time of `t` (the profile's hour and weekday). */
  const arrivalsPerMs = (t: number): number => {
    const p = localPartsOf(t + offsetAt(t));
    return profileArrivalsPerHour(ctx.profile, p.hour, p.isoWeekday) / HOUR_MS;
  };
  const services = (t: number) => (serving ? Math.min(ctx.queueLength, servicePerMs * Math.max(0, t - serviceFrom!)) : 0);
  const expected = (arrivals: number, t: number) => arrivals + services(t);
  let arrivals = 0;
  for (let t = lastEventMs; t < latest; ) {
    // steps end on local 5-minute marks (so never span a local hour) and at the reopening (the service rate starts)
    let next = Math.min(latest, t + STEP_MS - ((t + offsetAt(t)) % STEP_MS));
    if (serving && serviceFrom! > t && serviceFrom! < next) next = serviceFrom!;
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
