/**
 * Pure dashboard logic: severity, staleness, alerts, chart series and the contract events an official posts.
 * No DOM and no I/O, so it is importable by Node tests (test/e2e/dashboard-logic.test.ts).
 */

export const queueKey = (q) => `${q.crossingId}|${q.direction}|${q.vehicleClass}`;

/** Wait thresholds (seconds) between severity levels. Closed and unknown are their own levels. */
export const SEVERITY_LIMITS = { low: 30 * 60, medium: 2 * 3600, high: 4 * 3600 };
export const SEVERITY_ORDER = ['unknown', 'low', 'medium', 'high', 'severe', 'closed'];

/**
 * Stale when the estimator said so, or when the wall clock is past the queue's `staleAt`: a source that went silent
 * publishes nothing, so the last estimate's own flag would stay false forever. `staleAt` is later than
 * `staleAfterMs` after the newest event for a quiet queue (a few vehicles an hour at night are often silent for an
 * hour); an estimate without it (an older estimator) uses the newest event + `staleAfterMs`.
 */
export function isStale(est, now, staleAfterMs) {
  if (!est) return true;
  if (est.stale) return true;
  if (!est.lastEventAt) return est.method !== 'prior';
  const fixed = Date.parse(est.lastEventAt) + staleAfterMs;
  if (!Number.isFinite(fixed)) return true;
  const quiet = est.staleAt ? Date.parse(est.staleAt) : NaN;
  return now > (Number.isFinite(quiet) ? Math.max(fixed, quiet) : fixed);
}

export function severityOf(est) {
  if (!est) return 'unknown';
  if (est.status === 'closed') return 'closed';
  const w = est.waitSeconds;
  if (w === null || w === undefined) return 'unknown';
  if (w < SEVERITY_LIMITS.low) return 'low';
  if (w < SEVERITY_LIMITS.medium) return 'medium';
  if (w < SEVERITY_LIMITS.high) return 'high';
  return 'severe';
}

/**
 * An open (or restricted) queue with no lane open: nobody is served, so the estimator publishes no wait figure
 * (like a closure with no known reopening) and says why in statusReason.
 */
export function noLanesOpen(est) {
  return Boolean(est) && est.status !== 'closed' && est.lanesOpen === 0 && (est.waitSeconds === null || est.waitSeconds === undefined);
}

/** The estimator's words for it at the head of statusReason (shared/estimation/model.ts NO_LANES_OPEN_REASON). */
export const NO_LANES_OPEN_REASON = 'no lanes open';

/**
 * The reason to show beside a queue's status: the one an official gave. For a queue with no lane open the
 * estimator puts its own "no lanes open" first ("no lanes open; customs IT outage"): the page says that in its own
 * language (noLanesOpen), so only the official's part is left; null when there is none.
 */
export function officialReason(est) {
  const reason = est?.statusReason;
  if (!reason) return null;
  if (!noLanesOpen(est)) return reason;
  if (reason === NO_LANES_OPEN_REASON) return null;
  const prefix = `${NO_LANES_OPEN_REASON}; `;
  return reason.startsWith(prefix) ? reason.slice(prefix.length) : reason;
}

/** The worst severity among a crossing's queues (closed ranks highest), for its map marker. */
export function worstSeverity(estimates) {
  let worst = 'unknown';
  for (const e of estimates) {
    const s = severityOf(e);
    if (SEVERITY_ORDER.indexOf(s) > SEVERITY_ORDER.indexOf(worst)) worst = s;
  }
  return worst;
}

/**
 * Crossing-level status from its queues: 'closed' / 'restricted' if every queue is, 'mixed' (partly closed) if
 * some queues are closed, 'mixed-restricted' (partly restricted) if some are restricted and none closed.
 */
export function crossingStatus(crossing, estimates) {
  if (!estimates.length) return { status: crossing.status ?? 'open', until: null, reason: null };
  const closed = estimates.filter((e) => e.status === 'closed');
  const restricted = estimates.filter((e) => e.status === 'restricted');
  const pick = (list) => {
    const withUntil = list.filter((e) => e.statusUntil).sort((a, b) => Date.parse(a.statusUntil) - Date.parse(b.statusUntil));
    return { until: withUntil[0]?.statusUntil ?? null, reason: list.find((e) => e.statusReason)?.statusReason ?? null };
  };
  if (closed.length === estimates.length) return { status: 'closed', ...pick(closed) };
  if (closed.length > 0) return { status: 'mixed', ...pick(closed) };
  if (restricted.length === estimates.length) return { status: 'restricted', ...pick(restricted) };
  if (restricted.length > 0) return { status: 'mixed-restricted', ...pick(restricted) };
  return { status: 'open', until: null, reason: null };
}

/** Keeps queue-length samples per queue (event time) for trend detection; bounded to the last `keepMs`. */
export function addSample(samples, t, queueLength, keepMs = 2 * 3600_000) {
  const list = samples.filter((s) => s.t !== t);
  list.push({ t, q: queueLength });
  list.sort((a, b) => a.t - b.t);
  const newest = list[list.length - 1].t;
  return list.filter((s) => s.t >= newest - keepMs).slice(-200);
}

/** The least growth (vehicles) the growing alert takes: a queue shorter than this now cannot have grown by it. */
export const GROWTH_MIN_VEHICLES = 5;

/**
 * Growing faster than served: over the last `windowMs` of event time the queue grew by at least `minGrowth`
 * vehicles and by at least 10 %. Works on samples from history buckets and live estimates alike.
 */
export function isGrowing(samples, windowMs = 3600_000, minGrowth = GROWTH_MIN_VEHICLES) {
  if (samples.length < 2) return false;
  const newest = samples[samples.length - 1];
  const base = samples.find((s) => s.t >= newest.t - windowMs);
  if (!base || base === newest || newest.t - base.t < windowMs / 4) return false;
  const growth = newest.q - base.q;
  return growth >= minGrowth && growth >= 0.1 * Math.max(base.q, 1);
}

/** Arrivals exceed services over the history buckets of the last `windowMs` (when the store records them). */
export function arrivalsOutpaceService(points, windowMs = 3600_000) {
  if (!points.length) return false;
  const end = points[points.length - 1].t;
  let arrivals = 0;
  let served = 0;
  for (const p of points) {
    if (p.t <= end - windowMs) continue;
    arrivals += p.arrivals ?? 0;
    served += p.served ?? 0;
  }
  return arrivals - served >= GROWTH_MIN_VEHICLES && arrivals > served * 1.1;
}

/**
 * Active alerts, most serious first. `ctx`: { crossings, estimates: Map(key -> est), growing: Set(key),
 * thresholdSeconds, now, staleAfterMs }. Returns plain objects; the page turns them into text.
 */
export function computeAlerts(ctx) {
  const out = [];
  for (const c of ctx.crossings) {
    const queues = [];
    for (const direction of c.directions) {
      for (const vehicleClass of c.vehicleClasses) {
        const key = queueKey({ crossingId: c.id, direction, vehicleClass });
        queues.push({ key, direction, vehicleClass, est: ctx.estimates.get(key) });
      }
    }
    const ests = queues.map((q) => q.est).filter(Boolean);
    const cs = crossingStatus(c, ests);
    if (cs.status === 'closed') {
      out.push({ kind: 'closed', severity: 3, crossingId: c.id, until: cs.until, reason: cs.reason });
    } else {
      for (const q of queues) {
        if (q.est?.status === 'closed') out.push({ kind: 'closed', severity: 3, crossingId: c.id, direction: q.direction, vehicleClass: q.vehicleClass, until: q.est.statusUntil, reason: q.est.statusReason });
      }
    }
    for (const q of queues) {
      const stale = isStale(q.est, ctx.now, ctx.staleAfterMs);
      if (stale && q.est?.method !== 'prior') {
        const last = q.est?.lastEventAt ? Date.parse(q.est.lastEventAt) : null;
        out.push({ kind: 'stale', severity: 1, crossingId: c.id, direction: q.direction, vehicleClass: q.vehicleClass, silentMs: last === null ? null : ctx.now - last });
      }
      if (!q.est || q.est.status === 'closed' || stale) continue;
      // lanes all shut on an open crossing: nobody is served, however short the queue looks
      if (noLanesOpen(q.est)) out.push({ kind: 'noLanes', severity: 2, crossingId: c.id, direction: q.direction, vehicleClass: q.vehicleClass, reason: officialReason(q.est) });
      if (q.est.waitSeconds !== null && q.est.waitSeconds > ctx.thresholdSeconds) {
        out.push({ kind: 'wait', severity: 2, crossingId: c.id, direction: q.direction, vehicleClass: q.vehicleClass, waitSeconds: q.est.waitSeconds });
      }
      if (ctx.growing.has(q.key)) out.push({ kind: 'growing', severity: 2, crossingId: c.id, direction: q.direction, vehicleClass: q.vehicleClass });
    }
  }
  return out.sort((a, b) => b.severity - a.severity);
}

/** Hourly throughput bars from history buckets: served per hour, and capacity = mean lanes open x per-lane rate. */
export function hourlyThroughput(points, capacityPerLanePerHour) {
  const byHour = new Map();
  for (const p of points) {
    const h = Math.floor(p.t / 3600_000) * 3600_000;
    const b = byHour.get(h) ?? { t: h, served: 0, lanesSum: 0, lanesN: 0 };
    b.served += p.served ?? 0;
    if (p.lanesOpen !== null && p.lanesOpen !== undefined) {
      b.lanesSum += p.lanesOpen;
      b.lanesN += 1;
    }
    byHour.set(h, b);
  }
  return [...byHour.values()]
    .sort((a, b) => a.t - b.t)
    .map((b) => ({
      t: b.t,
      served: b.served,
      capacity: b.lanesN && capacityPerLanePerHour ? Math.round((b.lanesSum / b.lanesN) * capacityPerLanePerHour) : null,
    }));
}

/** ISO-8601 with the browser's UTC offset, e.g. 2026-11-22T10:15:00.000+05:00 (the contract requires an offset). */
export function isoWithOffset(date) {
  const pad = (n, w = 2) => String(Math.abs(n)).padStart(w, '0');
  const off = -date.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:` +
    `${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`
  );
}

/** Most lanes the dashboard accepts when the catalogue's lanesMax of the queue is not known (the page's meta not loaded). */
const LANES_FALLBACK_MAX = 1000;

/** The most lanes a queue can have open: its class's lanesMax per direction (/dashboard/meta.json), as the API checks. */
export function lanesMaxOf(meta, crossingId, vehicleClass) {
  const max = meta?.crossings?.[crossingId]?.classes?.[vehicleClass]?.lanesMax;
  return Number.isInteger(max) && max >= 1 ? max : LANES_FALLBACK_MAX;
}

/** The number typed in the lanes form as a lane count from 0 to `max`, or null when it is not one. */
export function parseLanes(text, max) {
  const s = String(text ?? '').trim();
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return n <= max ? n : null;
}

/** A `lanes.changed` contract event (shared/events/v1.ts). */
export function lanesChangedEvent({ eventId, now, crossingId, direction, vehicleClass, lanesOpen }) {
  return { eventId, type: 'lanes.changed', crossingId, occurredAt: isoWithOffset(now), direction, vehicleClass, lanesOpen };
}

/** A `crossing.status` contract event; direction/vehicleClass only when the change is scoped to one queue. */
export function crossingStatusEvent({ eventId, now, crossingId, status, until, reason, direction, vehicleClass }) {
  const ev = { eventId, type: 'crossing.status', crossingId, occurredAt: isoWithOffset(now), status };
  if (until) ev.until = isoWithOffset(until);
  if (reason) ev.reason = reason;
  if (direction) ev.direction = direction;
  if (vehicleClass) ev.vehicleClass = vehicleClass;
  return ev;
}
