/**
 * The dashboard's only HTTP client. Every call resolves to data or throws an ApiError carrying the API's
 * error shape `{ error, message, details? }` and the HTTP status, so callers branch on `code`/`status`.
 */
/* global URLSearchParams */

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

async function request(path, init = {}) {
  let res;
  try {
    res = await fetch(path, { ...init, headers: { accept: 'application/json', ...(init.headers ?? {}) } });
  } catch (err) {
    throw new ApiError(0, 'network', err instanceof Error ? err.message : String(err));
  }
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null; // a proxy's HTML error page: fall back to the status text below
  }
  if (!res.ok) {
    const details = Array.isArray(body?.details) ? body.details : undefined;
    // Field-level details make a rejection actionable ("lanesOpen: must be <= 1000"), so show them with the message.
    const detailText = details?.length
      ? `: ${details.map((d) => [d.path, d.message].filter(Boolean).join(' ')).join('; ')}`
      : '';
    throw new ApiError(res.status, body?.error ?? `http_${res.status}`, `${body?.message ?? res.statusText}${detailText}`, details);
  }
  return body;
}

export const getCrossings = () => request('/v1/crossings').then((b) => b.crossings);

export const getMeta = () => request('/dashboard/meta.json');

export function getHistory({ crossingId, direction, vehicleClass, fromMs, toMs, step }) {
  const q = new URLSearchParams({
    direction,
    vehicleClass,
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    step,
  });
  // The API sends bucket times as ISO-8601 strings; the charts work in epoch ms.
  return request(`/v1/crossings/${encodeURIComponent(crossingId)}/history?${q}`).then((body) => ({
    ...body,
    points: (body?.points ?? []).map((p) => ({ ...p, t: typeof p.t === 'number' ? p.t : Date.parse(p.t) })).filter((p) => Number.isFinite(p.t)),
  }));
}

export async function getMapSvg() {
  const res = await fetch('/map.svg');
  if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, res.statusText);
  return res.text();
}

/** POST contract events with the official's bearer token. Resolves to `{ accepted, duplicates }`. */
export function postEvents(events, token) {
  return request('/v1/events', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(events),
  });
}
