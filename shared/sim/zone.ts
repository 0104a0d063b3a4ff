/**
 * Local-time arithmetic for the simulators (hour-of-day profiles, weekday factors, opening hours) with Intl only.
 * Zone offsets are looked up once per UTC hour and cached: exact for every zone whose offset changes on whole
 * UTC hours, which covers all zones of the catalogue (Kazakhstan, Kyrgyzstan, Uzbekistan and China have no DST).
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

const formatters = new Map<string, Intl.DateTimeFormat>();
const offsetCache = new Map<string, number>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** Offset of `zone` from UTC at instant t, in ms (e.g. +5 h for Asia/Almaty in 2026). */
export function zoneOffsetMs(zone: string, tMs: number): number {
  const bucket = Math.floor(tMs / HOUR_MS);
  const key = `${zone}|${bucket}`;
  const cached = offsetCache.get(key);
  if (cached !== undefined) return cached;
  const at = bucket * HOUR_MS;
  const parts: Record<string, number> = {};
  for (const p of formatter(zone).formatToParts(new Date(at))) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  const offset = asUtc - at;
  if (offsetCache.size > 200_000) offsetCache.clear();
  offsetCache.set(key, offset);
  return offset;
}

export interface LocalParts {
  /** 0..23 */
  hour: number;
  /** ISO weekday 1 (Monday) .. 7 (Sunday) */
  isoWeekday: number;
  /** Days since 1970-01-01 in local time: a stable key for "the same local day". */
  dayIndex: number;
}

export function localParts(zone: string, tMs: number): LocalParts {
  return localPartsOf(tMs + zoneOffsetMs(zone, tMs));
}

/** LocalParts of a local wall-clock time given as ms since 1970-01-01T00:00 local (UTC ms + the zone's offset). */
export function localPartsOf(local: number): LocalParts {
  const dayIndex = Math.floor(local / DAY_MS);
  const hour = Math.floor((local - dayIndex * DAY_MS) / HOUR_MS);
  const dow = new Date(dayIndex * DAY_MS).getUTCDay(); // 0 = Sunday
  return { hour, isoWeekday: dow === 0 ? 7 : dow, dayIndex };
}

/** The UTC instant of local time `minutes` after local midnight of local day `dayIndex` in `zone`. */
export function localDayTimeToUtc(zone: string, dayIndex: number, minutes: number): number {
  const localMs = dayIndex * DAY_MS + minutes * 60_000;
  // Two passes settle the offset at the target instant (it may differ from the offset at the guess).
  let utc = localMs - zoneOffsetMs(zone, localMs);
  utc = localMs - zoneOffsetMs(zone, utc);
  return utc;
}

/** "HH:MM" -> minutes after midnight. */
export const hhmmToMinutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
