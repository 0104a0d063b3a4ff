/**
 * Entry point of the officials' dashboard: loads crossings, renders the overview, map, alerts, detail charts
 * and the officials' forms, and applies live estimates from the SSE stream. Pure logic lives in model.js,
 * strings in i18n.js, HTTP in api.js, the stream in live.js, charts in charts.js, the map in map.js.
 */
/* global sessionStorage, navigator, crypto, location, history */
import { ApiError, getCrossings, getHistory, getMeta, postEvents } from './api.js';
import { connectLive } from './live.js';
import { timeChart } from './charts.js';
import { loadMap, updateMap } from './map.js';
import {
  LANGS, browserTimeZone, fmtDateTime, fmtDuration, fmtNumber, fmtTime, getLang, setLang, t, translateDom, tzLabel, utcOffsetLabel,
} from './i18n.js';
import {
  addSample, arrivalsOutpaceService, computeAlerts, crossingStatus, crossingStatusEvent, GROWTH_MIN_VEHICLES, hourlyThroughput, isGrowing,
  isStale, lanesChangedEvent, lanesMaxOf, noLanesOpen, officialReason, parseLanes, queueKey, severityOf, worstSeverity,
} from './model.js';

const STORE = { lang: 'kezek.lang', threshold: 'kezek.alertThresholdMinutes', token: 'kezek.officialToken' };
const DEFAULT_THRESHOLD_MIN = 120;
const TICK_MS = 10_000;
/** Retries of the first load: 2, 4, 8, 16, 30, 30 ... seconds. */
const BOOT_RETRY_MS = { first: 2000, max: 30_000 };

const state = {
  crossings: [],
  byId: new Map(),
  /** queueKey -> QueueEstimate */
  estimates: new Map(),
  /** queueKey -> [{ t, q }] queue-length samples in event time, for the growth alert */
  samples: new Map(),
  /** queueKey: arrivals outpaced service in the last hour of history */
  historyGrowing: new Set(),
  meta: { staleAfterSeconds: 900, crossings: {} },
  thresholdMinutes: DEFAULT_THRESHOLD_MIN,
  mapSvg: null,
  conn: 'connecting',
  /** When the page last heard from the server (shown while offline). */
  connSince: Date.now(),
  /** Set while the first load fails: { message, retryInS }. */
  bootError: null,
  /** { crossingId, direction, vehicleClass, points, timeZone, loadedAt } */
  detail: null,
};

const $ = (sel) => document.querySelector(sel);
/** replaceChildren without the "null" text nodes a conditional child would otherwise become. */
const fill = (el, ...children) => el.replaceChildren(...children.filter((c) => c !== null && c !== undefined && c !== ''));
const h = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
};

// ---------- labels ----------

const crossingName = (c) => c.names[getLang()] ?? c.names.en;
const neighbourName = (c) => {
  const n = c.neighbourName;
  if (getLang() === 'en') return n.en;
  return (getLang() === 'ru' ? n.ru : n.local) ?? n.ru ?? n.local ?? n.en;
};
/** "Kazakhstan → Kyrgyzstan"; the no-break space keeps the arrow with the first country when a narrow column wraps. */
const directionLabel = (dir) => dir.split('-').map((cc) => t(`country.${cc}`)).join('\u00a0→ ');
const queueLabel = (direction, vehicleClass) => `${directionLabel(direction)}, ${t(`class.${vehicleClass}`)}`;
const localZone = (c) => c.localTimeZone ?? c.timeZones?.[c.countries[0]] ?? 'UTC';
const staleAfterMs = () => state.meta.staleAfterSeconds * 1000;
const keyOf = (crossingId, direction, vehicleClass) => queueKey({ crossingId, direction, vehicleClass });

function statusText(status, until, zone) {
  if (status === 'closed' || status === 'restricted') {
    if (until) return t(`status.${status}Until`, { time: `${fmtDateTime(Date.parse(until), zone)} (${tzLabel(zone)})` });
    return t(`status.${status}`);
  }
  if (status === 'mixed') return t('status.mixed');
  if (status === 'mixed-restricted') return t('status.mixedRestricted');
  return t('status.open');
}

/**
 * A queue row's status: a short badge ("Closed") with the reopening time and reason below it. The full zone
 * label is on the crossing's badge; the row names the offset only, so the column stays narrow. An open queue with
 * no lane open says so in the page's language (its published reason is the estimator's English words for it).
 */
function rowStatus(est, zone) {
  const until = (est.status === 'closed' || est.status === 'restricted') && est.statusUntil ? Date.parse(est.statusUntil) : null;
  const noLanes = noLanesOpen(est);
  const reason = officialReason(est);
  return [
    h('span', { class: `status-badge status-${est.status}` }, statusText(est.status, null, zone)),
    until === null ? null : h('span', { class: 'note', title: tzLabel(zone, until) }, t('status.untilShort', { time: `${fmtDateTime(until, zone)} (${utcOffsetLabel(zone, until)})` })),
    noLanes ? h('span', { class: 'reason' }, t('status.noLanes')) : null,
    reason ? h('span', { class: 'reason' }, t('status.reason', { reason })) : null,
  ];
}

/**
 * "p10–p90", or one value when both ends read the same ("3 h", not "3 h–3 h"). A number stays with its unit
 * (no-break space), so a narrow column never wraps "1 h 4" / "min".
 */
function rangeText(p10, p90) {
  const keep = (s) => s.replace(/(\d) /g, '$1\u00a0');
  const lo = keep(fmtDuration(p10));
  const hi = keep(fmtDuration(p90));
  return lo === hi ? lo : t('wait.range', { p10: lo, p90: hi });
}

function hoursText(c) {
  const oh = c.operatingHours;
  if (!oh || oh.mode === '24h') return t('crossing.hours24');
  return t('crossing.hoursDaily', { open: oh.open, close: oh.close, tz: tzLabel(oh.timeZone) });
}

// ---------- overview ----------

function renderLegend() {
  const box = $('#severity-legend');
  box.replaceChildren(
    h('span', { class: 'legend-title' }, t('overview.legend')),
    ...['low', 'medium', 'high', 'severe', 'closed', 'unknown'].map((s) => h('span', { class: `sev-badge sev-${s}` }, t(`sev.${s}`))),
    h('span', { class: 'sev-badge sev-stale' }, t('sev.stale')),
  );
}

function renderOverview() {
  const box = $('#crossings');
  const focusedId = document.activeElement?.id;
  box.replaceChildren(...state.crossings.map(renderCard));
  for (const c of state.crossings) updateCrossing(c.id);
  if (focusedId) document.getElementById(focusedId)?.focus();
}

/** Explicit table roles: the phone layout restyles the table as blocks, which would otherwise drop its semantics. */
function renderCard(c) {
  const hid = `card-${c.id}-h`;
  const head = h(
    'div',
    { class: 'card-head' },
    h('h3', { id: hid }, crossingName(c), ' ', h('span', { class: 'neighbour' }, t('crossing.neighbour', { name: neighbourName(c) }))),
    h('p', { class: 'crossing-meta' }, h('span', { class: 'status-badge', dataset: { field: 'crossingStatus' } }), ' ', h('span', { class: 'hours' }, hoursText(c))),
    h('button', { type: 'button', class: 'btn btn-secondary', id: `charts-${c.id}`, dataset: { action: 'charts', crossing: c.id } }, t('crossing.charts', { name: crossingName(c) })),
  );
  const cols = ['col.direction', 'col.class', 'col.status', 'col.queue', 'col.lanes', 'col.wait', 'col.range', 'col.freshness'];
  const thead = h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, ...cols.map((k) => h('th', { scope: 'col', role: 'columnheader' }, t(k))), h('th', { scope: 'col', role: 'columnheader', class: 'official-only' }, t('col.actions'))));
  const rows = [];
  for (const direction of c.directions) {
    for (const vehicleClass of c.vehicleClasses) {
      const key = keyOf(c.id, direction, vehicleClass);
      const btnId = `lanes-btn-${c.id}-${direction}-${vehicleClass}`;
      rows.push(
        h(
          'tr',
          { role: 'row', dataset: { queue: key } },
          h('th', { scope: 'row', role: 'rowheader', class: 'q-dir' }, directionLabel(direction)),
          h('td', { role: 'cell', class: 'q-class', dataset: { label: t('col.class') } }, t(`class.${vehicleClass}`)),
          h('td', { role: 'cell', dataset: { field: 'status', label: t('col.status') } }),
          h('td', { role: 'cell', class: 'num', dataset: { field: 'queueLength', label: t('col.queue') } }),
          h('td', { role: 'cell', class: 'num', dataset: { field: 'lanesOpen', label: t('col.lanes') } }),
          h('td', { role: 'cell', dataset: { field: 'wait', label: t('col.wait') } }),
          h('td', { role: 'cell', dataset: { field: 'range', label: t('col.range') } }),
          h('td', { role: 'cell', dataset: { field: 'freshness', label: t('col.freshness') } }),
          h(
            'td',
            { role: 'cell', class: 'official-only', dataset: { label: t('col.actions') } },
            h('button', { type: 'button', id: btnId, class: 'btn btn-small', 'aria-label': t('official.setLanesFor', { queue: queueLabel(direction, vehicleClass) }), dataset: { action: 'lanes', crossing: c.id, direction, vehicleClass } }, t('official.setLanesShort')),
          ),
        ),
      );
    }
  }
  const table = h('table', { class: 'queues', role: 'table' }, h('caption', { class: 'visually-hidden' }, t('table.caption', { name: crossingName(c) })), thead, h('tbody', { role: 'rowgroup' }, ...rows));
  return h('article', { class: 'crossing-card', id: `card-${c.id}`, 'aria-labelledby': hid, dataset: { crossing: c.id } }, head, h('div', { class: 'table-wrap' }, table));
}

function estimatesOf(c) {
  const out = [];
  for (const d of c.directions) for (const vc of c.vehicleClasses) {
    const e = state.estimates.get(keyOf(c.id, d, vc));
    if (e) out.push(e);
  }
  return out;
}

/** Refreshes the figures of one crossing in place (no rebuild, so keyboard focus stays where it is). */
function updateCrossing(crossingId) {
  const c = state.byId.get(crossingId);
  const card = document.getElementById(`card-${crossingId}`);
  if (!c || !card) return;
  const zone = localZone(c);
  const now = Date.now();
  const cs = crossingStatus(c, estimatesOf(c));
  const badge = card.querySelector('[data-field="crossingStatus"]');
  badge.className = `status-badge status-${cs.status}`;
  badge.textContent = statusText(cs.status, cs.until, zone) + (cs.reason ? `. ${t('status.reason', { reason: cs.reason })}` : '');

  for (const tr of card.querySelectorAll('tr[data-queue]')) {
    const est = state.estimates.get(tr.dataset.queue);
    const cell = (f) => tr.querySelector(`[data-field="${f}"]`);
    const stale = isStale(est, now, staleAfterMs());
    const prior = est?.method === 'prior';
    tr.classList.toggle('is-stale', Boolean(est) && stale && !prior);
    if (!est) {
      for (const f of ['status', 'queueLength', 'lanesOpen', 'range']) cell(f).textContent = '–';
      cell('wait').replaceChildren(h('span', { class: 'sev-badge sev-unknown' }, t('sev.unknown')));
      cell('freshness').textContent = t('fresh.never');
      continue;
    }
    fill(cell('status'), ...rowStatus(est, zone));
    const num = (v) => (v === null || v === undefined ? '–' : fmtNumber(v));
    // a prior's queue length is the typical one for the hour, not a count: marked as such ("~12")
    cell('queueLength').textContent = prior && typeof est.queueLength === 'number' ? `~${fmtNumber(est.queueLength)}` : num(est.queueLength);
    cell('queueLength').title = prior ? t('queue.typical') : '';
    // a closed queue has no lane open, whatever lanes it had (and will have when it reopens)
    cell('lanesOpen').textContent = est.status === 'closed' ? num(0) : num(est.lanesOpen);
    const sev = severityOf(est);
    const waitBadge = h('span', { class: `sev-badge sev-${stale && !prior ? 'stale' : sev}`, title: t(`sev.${sev}`) }, fmtDuration(est.waitSeconds));
    fill(cell('wait'),
      waitBadge,
      h('span', { class: 'visually-hidden' }, ` (${t(`sev.${sev}`)})`),
      prior ? h('span', { class: 'note' }, t('wait.prior')) : null,
    );
    cell('range').textContent = est.waitP10Seconds === null || est.waitP90Seconds === null ? '–' : rangeText(est.waitP10Seconds, est.waitP90Seconds);
    const fresh = cell('freshness');
    if (!est.lastEventAt) fresh.textContent = t('fresh.never');
    else {
      const ago = t('fresh.ago', { ago: fmtDuration(Math.max(0, (now - Date.parse(est.lastEventAt)) / 1000)) });
      const time = h('time', { datetime: est.lastEventAt, title: `${fmtDateTime(Date.parse(est.lastEventAt), zone)} (${tzLabel(zone)})` }, ago);
      fill(fresh, stale && !prior ? h('span', { class: 'stale-flag', title: t('fresh.staleTitle') }, `⚠ ${t('fresh.stale')}`) : '', stale && !prior ? ' ' : '', time);
    }
  }
}

// ---------- map ----------

function refreshMap() {
  if (!state.mapSvg) return;
  const info = new Map();
  const now = Date.now();
  for (const c of state.crossings) {
    const ests = estimatesOf(c);
    const cs = crossingStatus(c, ests);
    const sev = worstSeverity(ests);
    const stale = ests.length > 0 && ests.every((e) => isStale(e, now, staleAfterMs()) && e.method !== 'prior');
    // queues with no wait figure (no lane open, no estimate yet) add no number: "No estimate", never "0 min"
    const waits = ests.filter((e) => e.status !== 'closed' && e.waitSeconds !== null && e.waitSeconds !== undefined).map((e) => e.waitSeconds);
    const severityText = waits.length ? `${t(`sev.${sev}`)}, ${fmtDuration(Math.max(0, ...waits))}` : t(`sev.${sev}`);
    const text = cs.status === 'open' ? severityText : statusText(cs.status, cs.until, localZone(c));
    info.set(c.id, { name: crossingName(c), severity: sev, stale, statusText: stale ? `${text} (${t('sev.stale')})` : text });
  }
  updateMap(state.mapSvg, info);
}

// ---------- alerts ----------

function growingSet() {
  const set = new Set(state.historyGrowing);
  for (const [key, samples] of state.samples) if (isGrowing(samples)) set.add(key);
  return set;
}

function renderAlerts() {
  const alerts = computeAlerts({
    crossings: state.crossings,
    estimates: state.estimates,
    growing: growingSet(),
    thresholdSeconds: state.thresholdMinutes * 60,
    now: Date.now(),
    staleAfterMs: staleAfterMs(),
  });
  const list = $('#alerts-list');
  $('#alerts-count').textContent = t('alerts.count', { n: fmtNumber(alerts.length) });
  if (!alerts.length) {
    list.replaceChildren(h('li', { class: 'alert alert-none' }, t('alerts.none')));
    return;
  }
  list.replaceChildren(
    ...alerts.map((a) => {
      const c = state.byId.get(a.crossingId);
      const vars = { crossing: crossingName(c), queue: a.direction ? queueLabel(a.direction, a.vehicleClass) : '' };
      let text;
      if (a.kind === 'closed') {
        if (a.direction) text = t('alerts.closedQueue', vars);
        else if (a.until) text = t('alerts.closedUntil', { ...vars, time: `${fmtDateTime(Date.parse(a.until), localZone(c))} (${tzLabel(localZone(c))})` });
        else text = t('alerts.closed', vars);
        if (a.reason) text += ` ${t('status.reason', { reason: a.reason })}`;
      } else if (a.kind === 'wait') {
        text = t('alerts.waitAbove', { ...vars, wait: fmtDuration(a.waitSeconds), threshold: fmtDuration(state.thresholdMinutes * 60) });
      } else if (a.kind === 'noLanes') {
        text = t('alerts.noLanes', vars);
        if (a.reason) text += ` ${t('status.reason', { reason: a.reason })}`;
      } else if (a.kind === 'growing') text = t('alerts.growing', vars);
      else text = a.silentMs === null ? t('alerts.staleNever', vars) : t('alerts.stale', { ...vars, ago: fmtDuration(a.silentMs / 1000) });
      return h('li', { class: `alert alert-${a.kind}`, dataset: { kind: a.kind, crossing: a.crossingId } }, h('strong', {}, t(`alerts.kind.${a.kind}`)), ' ', text);
    }),
  );
}

// ---------- live ----------

const dirty = new Set();
let flushTimer = null;

function applyEstimate(est) {
  if (!est || typeof est.crossingId !== 'string' || !state.byId.has(est.crossingId)) return;
  // /v1/crossings lists every queue; one the estimator has never published has method null: nothing to show yet.
  if (est.method === null || est.method === undefined) return;
  const key = queueKey(est);
  const prev = state.estimates.get(key);
  // Out-of-order delivery (replay racing the initial load): keep the newer revision.
  if (prev && est.revision !== null && prev.revision !== null && est.revision < prev.revision && Date.parse(est.updatedAt) <= Date.parse(prev.updatedAt)) return;
  state.estimates.set(key, est);
  // SSE estimates carry asOf; the /v1/crossings view has lastEventAt/updatedAt instead.
  const at = Date.parse(est.asOf ?? est.lastEventAt ?? est.updatedAt);
  if (Number.isFinite(at) && typeof est.queueLength === 'number') state.samples.set(key, addSample(state.samples.get(key) ?? [], at, est.queueLength));
  dirty.add(est.crossingId);
  if (!flushTimer) flushTimer = setTimeout(flush, 50);
  const d = state.detail;
  if (d && d.crossingId === est.crossingId && d.direction === est.direction && d.vehicleClass === est.vehicleClass && Date.now() - d.loadedAt > 60_000) {
    void loadDetail();
  }
}

function flush() {
  flushTimer = null;
  for (const id of dirty) updateCrossing(id);
  dirty.clear();
  refreshMap();
  renderAlerts();
}

/**
 * The connection indicator. While offline the header says since when, and the figures are marked as possibly
 * out of date (banner, greyed-out tables and map) until the stream is live again.
 */
function setConn(s, since = state.connSince) {
  state.conn = s;
  state.connSince = since;
  const box = $('#conn');
  box.className = `conn conn-${s}`;
  box.dataset.state = s;
  const time = fmtTime(since, browserTimeZone());
  $('#conn-text').textContent = t(`conn.${s}`, { time });
  const offline = s === 'offline' && state.crossings.length > 0;
  document.body.classList.toggle('is-offline', offline);
  const banner = $('#offline-banner');
  banner.hidden = !offline;
  banner.textContent = offline ? t('conn.banner', { time }) : '';
}

async function loadCrossings() {
  const crossings = await getCrossings();
  state.crossings = crossings;
  state.byId = new Map(crossings.map((c) => [c.id, c]));
  for (const c of crossings) for (const est of c.queues ?? []) applyEstimate({ ...est, crossingId: est.crossingId ?? c.id });
}

/**
 * Seeds the growth alert from the last two hours of history (so it works right after a reload), for the queues that
 * are at least GROWTH_MIN_VEHICLES long now: a shorter one cannot have grown by that much, and one /history request
 * per queue (72) on every page load used up the per-IP read budget of a control room's shared address. The live
 * samples drive the alert for the others as they grow.
 */
async function seedGrowth() {
  const jobs = [];
  for (const c of state.crossings) {
    for (const d of c.directions) {
      for (const vc of c.vehicleClasses) {
        const est = state.estimates.get(keyOf(c.id, d, vc));
        if ((est?.queueLength ?? 0) >= GROWTH_MIN_VEHICLES) jobs.push({ c, d, vc });
      }
    }
  }
  const to = Date.now();
  const worker = async () => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      try {
        const res = await getHistory({ crossingId: job.c.id, direction: job.d, vehicleClass: job.vc, fromMs: to - 2 * 3600_000, toMs: to, step: '5m' });
        const key = keyOf(job.c.id, job.d, job.vc);
        let samples = state.samples.get(key) ?? [];
        for (const p of res.points ?? []) if (p.queueLength !== null) samples = addSample(samples, p.t, p.queueLength);
        state.samples.set(key, samples);
        if (arrivalsOutpaceService(res.points ?? [])) state.historyGrowing.add(key);
        else state.historyGrowing.delete(key);
      } catch {
        // History is an enhancement for one alert; the live samples still drive it.
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  renderAlerts();
}

// ---------- detail ----------

function fillSelect(select, items, value) {
  select.replaceChildren(...items.map((it) => h('option', { value: it.value }, it.label)));
  if (value !== undefined && items.some((it) => it.value === value)) select.value = value;
}

function openDetail(crossingId, direction, vehicleClass) {
  const c = state.byId.get(crossingId);
  if (!c) return;
  const d = direction && c.directions.includes(direction) ? direction : c.directions[0];
  const vc = vehicleClass && c.vehicleClasses.includes(vehicleClass) ? vehicleClass : c.vehicleClasses.includes('truck') ? 'truck' : c.vehicleClasses[0];
  state.detail = { crossingId, direction: d, vehicleClass: vc, points: null, loadedAt: 0 };
  const section = $('#detail');
  section.hidden = false;
  renderDetailFrame();
  void loadDetail();
  $('#detail-h').focus();
}

function renderDetailFrame() {
  const d = state.detail;
  if (!d) return;
  const c = state.byId.get(d.crossingId);
  $('#detail-h').textContent = t('detail.title', { name: crossingName(c) });
  fillSelect($('#detail-direction'), c.directions.map((x) => ({ value: x, label: directionLabel(x) })), d.direction);
  fillSelect($('#detail-class'), c.vehicleClasses.map((x) => ({ value: x, label: t(`class.${x}`) })), d.vehicleClass);
  $('#detail-tz').textContent = t('detail.tz', { tz: tzLabel(localZone(c)) });
}

async function loadDetail() {
  const d = state.detail;
  if (!d) return;
  const to = Date.now();
  const from = to - 24 * 3600_000;
  d.loadedAt = to;
  $('#detail-status').textContent = t('detail.loading');
  try {
    const res = await getHistory({ crossingId: d.crossingId, direction: d.direction, vehicleClass: d.vehicleClass, fromMs: from, toMs: to, step: '15m' });
    if (state.detail !== d) return;
    d.points = res.points ?? [];
    d.from = from;
    d.to = to;
    $('#detail-status').textContent = d.points.length ? '' : t('detail.empty');
    renderCharts();
  } catch (err) {
    if (state.detail !== d) return;
    $('#detail-status').textContent = t('detail.error', { message: err.message });
    $('#detail-charts').replaceChildren();
  }
}

function renderCharts() {
  const d = state.detail;
  if (!d?.points) return;
  const c = state.byId.get(d.crossingId);
  const zone = localZone(c);
  const pts = d.points;
  const base = { from: d.from, to: d.to, timeZone: zone };
  const mins = (s) => (s === null || s === undefined ? null : s / 60);
  const cap = state.meta.crossings?.[c.id]?.classes?.[d.vehicleClass]?.capacityPerLanePerHour ?? null;
  const hourly = hourlyThroughput(pts, cap);
  const charts = [
    timeChart({ ...base, id: 'chart-queue', title: t('chart.queue'), series: [{ kind: 'line', cls: 's-queue', points: pts.map((p) => ({ t: p.t, y: p.queueLength })) }] }),
    timeChart({ ...base, id: 'chart-lanes', title: t('chart.lanes'), series: [{ kind: 'step', cls: 's-lanes', points: pts.map((p) => ({ t: p.t, y: p.lanesOpen })) }] }),
    timeChart({
      ...base,
      id: 'chart-wait',
      title: t('chart.wait'),
      series: [
        { kind: 'band', cls: 's-band', points: pts.map((p) => ({ t: p.t, lo: mins(p.waitP10Seconds), hi: mins(p.waitP90Seconds) })) },
        { kind: 'line', cls: 's-wait', points: pts.map((p) => ({ t: p.t, y: mins(p.waitSeconds) })) },
        { kind: 'line', cls: 's-realised', points: pts.map((p) => ({ t: p.t, y: mins(p.realisedWaitSeconds) })) },
      ],
      legend: [
        { cls: 's-wait', label: t('chart.waitEstimated') },
        { cls: 's-band', label: t('chart.waitBand') },
        { cls: 's-realised', label: t('chart.waitRealised') },
      ],
    }),
    timeChart({
      ...base,
      id: 'chart-throughput',
      title: t('chart.throughput'),
      series: [
        { kind: 'bars', cls: 's-served', points: hourly.map((b) => ({ t: b.t, y: b.served, width: 3600_000 })) },
        { kind: 'step', cls: 's-capacity', points: hourly.flatMap((b) => [{ t: b.t, y: b.capacity }, { t: Math.min(b.t + 3600_000, d.to), y: b.capacity }]) },
      ],
      legend: [
        { cls: 's-served', label: t('chart.served') },
        { cls: 's-capacity', label: t('chart.capacity') },
      ],
    }),
  ];
  $('#detail-charts').replaceChildren(...charts, dataTable(pts, hourly, zone));
}

/** The chart figures as an hourly table, for screen readers and anyone who wants exact numbers. */
function dataTable(points, hourly, zone) {
  const lastInHour = new Map();
  for (const p of points) lastInHour.set(Math.floor(p.t / 3600_000) * 3600_000, p);
  const num = (v) => (v === null || v === undefined ? '–' : fmtNumber(v));
  const dur = (v) => (v === null || v === undefined ? '–' : fmtDuration(v));
  const cols = [`${t('detail.time')} (${tzLabel(zone)})`, t('chart.queue'), t('chart.lanes'), t('chart.waitEstimated'), t('chart.waitBand'), t('chart.waitRealised'), t('chart.served'), t('chart.capacity')];
  const rows = hourly.map((b) => {
    const p = lastInHour.get(b.t) ?? {};
    const band = p.waitP10Seconds === null || p.waitP10Seconds === undefined ? '–' : rangeText(p.waitP10Seconds, p.waitP90Seconds);
    return h('tr', {}, h('th', { scope: 'row' }, fmtTime(b.t, zone)), h('td', {}, num(p.queueLength)), h('td', {}, num(p.lanesOpen)), h('td', {}, dur(p.waitSeconds)), h('td', {}, band), h('td', {}, dur(p.realisedWaitSeconds)), h('td', {}, num(b.served)), h('td', {}, num(b.capacity)));
  });
  return h('details', { class: 'data-table' }, h('summary', {}, t('detail.table')), h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, ...cols.map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, ...rows))));
}

function closeDetail() {
  const id = state.detail?.crossingId;
  state.detail = null;
  $('#detail').hidden = true;
  if (location.hash.startsWith('#crossing/')) history.replaceState(null, '', location.pathname + location.search);
  if (id) document.getElementById(`charts-${id}`)?.focus();
}

function onHash() {
  const m = /^#crossing\/([a-z0-9-]+)$/.exec(location.hash);
  if (m && state.byId.has(m[1])) openDetail(m[1]);
}

// ---------- officials ----------

const token = () => sessionStorage.getItem(STORE.token) ?? '';

function reflectToken() {
  document.body.classList.toggle('has-token', token() !== '');
}

function showResult(kind, text) {
  const box = $('#official-result');
  box.className = `result result-${kind}`;
  box.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
  box.textContent = text;
}

function fillQueueSelects(prefix, crossingId, direction, vehicleClass) {
  const c = state.byId.get(crossingId) ?? state.crossings[0];
  if (!c) return;
  fillSelect($(`#${prefix}-direction`), c.directions.map((x) => ({ value: x, label: directionLabel(x) })), direction);
  fillSelect($(`#${prefix}-class`), c.vehicleClasses.map((x) => ({ value: x, label: t(`class.${x}`) })), vehicleClass);
}

function renderOfficialSelects() {
  for (const prefix of ['lanes', 'status']) {
    const sel = $(`#${prefix}-crossing`);
    const keep = { c: sel.value, d: $(`#${prefix}-direction`).value, vc: $(`#${prefix}-class`).value };
    fillSelect(sel, state.crossings.map((c) => ({ value: c.id, label: crossingName(c) })), keep.c || undefined);
    fillQueueSelects(prefix, sel.value, keep.d || undefined, keep.vc || undefined);
  }
}

async function send(event, okText) {
  if (!token()) {
    showResult('error', t('official.tokenMissing'));
    $('#token').focus();
    return false;
  }
  showResult('pending', t('official.sending'));
  try {
    const res = await postEvents(event, token());
    showResult('ok', res?.duplicates > 0 && !res?.accepted ? t('official.duplicate') : okText);
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 0) showResult('error', t('official.networkError', { message: err.message }));
    else showResult('error', t('official.error', { status: err.status ?? '?', message: err.message }));
    return false;
  }
}

function wireOfficial() {
  $('#token').value = token();
  reflectToken();
  $('#token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = $('#token').value.trim();
    if (!v) {
      showResult('error', t('official.tokenMissing'));
      return;
    }
    sessionStorage.setItem(STORE.token, v);
    reflectToken();
    showResult('ok', t('official.tokenSet'));
  });
  $('#token-clear').addEventListener('click', () => {
    sessionStorage.removeItem(STORE.token);
    $('#token').value = '';
    reflectToken();
    showResult('ok', t('official.tokenCleared'));
  });
  for (const prefix of ['lanes', 'status']) {
    $(`#${prefix}-crossing`).addEventListener('change', (e) => fillQueueSelects(prefix, e.target.value));
  }
  for (const id of ['#status-crossing', '#status-until']) {
    $(id).addEventListener('change', renderUntilHint);
    $(id).addEventListener('input', renderUntilHint);
  }
  for (const id of ['#lanes-crossing', '#lanes-direction', '#lanes-class']) $(id).addEventListener('change', prefillLanes);

  $('#lanes-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const crossingId = $('#lanes-crossing').value;
    const direction = $('#lanes-direction').value;
    const vehicleClass = $('#lanes-class').value;
    const max = lanesMaxOf(state.meta, crossingId, vehicleClass);
    const lanesOpen = parseLanes($('#lanes-value').value, max);
    if (lanesOpen === null) {
      showResult('error', t('official.lanesInvalid', { max: fmtNumber(max) }));
      $('#lanes-value').focus();
      return;
    }
    const c = state.byId.get(crossingId);
    const ev = lanesChangedEvent({ eventId: crypto.randomUUID(), now: new Date(), crossingId, direction, vehicleClass, lanesOpen });
    await send(ev, t('official.okLanes', { crossing: crossingName(c), queue: queueLabel(direction, vehicleClass), n: fmtNumber(lanesOpen) }));
  });

  for (const r of document.querySelectorAll('input[name="scope"]')) {
    r.addEventListener('change', () => {
      const queueScope = document.querySelector('input[name="scope"]:checked').value === 'queue';
      for (const el of document.querySelectorAll('.scope-queue')) el.hidden = !queueScope;
    });
  }
  $('#status-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const crossingId = $('#status-crossing').value;
    const status = $('#status-value').value;
    const queueScope = document.querySelector('input[name="scope"]:checked').value === 'queue';
    const untilRaw = $('#status-until').value;
    const now = new Date();
    // datetime-local has no zone: it is the official's own local time, which isoWithOffset records with its offset.
    const until = untilRaw && status !== 'open' ? new Date(untilRaw) : null;
    if (until && !(until.getTime() > now.getTime())) {
      showResult('error', t('official.untilInvalid'));
      $('#status-until').focus();
      return;
    }
    const c = state.byId.get(crossingId);
    const direction = queueScope ? $('#status-direction').value : undefined;
    const vehicleClass = queueScope ? $('#status-class').value : undefined;
    const ev = crossingStatusEvent({
      eventId: crypto.randomUUID(),
      now,
      crossingId,
      status,
      until,
      reason: $('#status-reason').value.trim() || undefined,
      direction,
      vehicleClass,
    });
    const vars = { crossing: crossingName(c), status: t(`status.${status}`) };
    await send(ev, queueScope ? t('official.okStatusQueue', { ...vars, queue: queueLabel(direction, vehicleClass) }) : t('official.okStatus', vars));
  });
}

/**
 * The reopening field takes the official's own local time (a datetime-local input has no zone), so its label
 * names the browser's zone, and the hint below says what the entered time is at the selected crossing.
 */
function renderUntilHint() {
  $('#status-until-label').textContent = t('official.until', { tz: tzLabel(browserTimeZone()) });
  const c = state.byId.get($('#status-crossing').value);
  const raw = $('#status-until').value;
  const ms = raw ? new Date(raw).getTime() : NaN;
  $('#status-until-hint').textContent =
    c && Number.isFinite(ms) ? t('official.untilAt', { crossing: crossingName(c), time: fmtDateTime(ms, localZone(c)), tz: tzLabel(localZone(c), ms) }) : '';
}

/** Puts the selected queue's current lanes in the number field, as the starting point of a change. */
function prefillLanes() {
  const est = state.estimates.get(keyOf($('#lanes-crossing').value, $('#lanes-direction').value, $('#lanes-class').value));
  $('#lanes-value').value = typeof est?.lanesOpen === 'number' ? String(est.lanesOpen) : '';
  // the browser's own range check says the queue's real limit, as the API would
  $('#lanes-value').max = String(lanesMaxOf(state.meta, $('#lanes-crossing').value, $('#lanes-class').value));
}

/** "Lanes…" in a queue row: preselect that queue in the lanes form and put the cursor in the number field. */
function startLanesEdit(crossingId, direction, vehicleClass) {
  $('#lanes-crossing').value = crossingId;
  fillQueueSelects('lanes', crossingId, direction, vehicleClass);
  prefillLanes();
  $('#lanes-form').scrollIntoView({ block: 'center' });
  $('#lanes-value').focus();
}

// ---------- language & settings ----------

function applyLanguage(lang) {
  setLang(lang);
  localStorage.setItem(STORE.lang, getLang());
  document.documentElement.lang = getLang();
  document.title = t('app.title');
  $('#lang').value = getLang();
  translateDom(document);
  setConn(state.conn);
  renderLegend();
  renderUntilHint();
  if (state.bootError) renderBootError();
  if (state.crossings.length) {
    $('#overview-status').textContent = '';
    renderOverview();
    renderOfficialSelects();
    renderAlerts();
    refreshMap();
    renderDetailFrame();
    renderCharts();
    renderUntilHint();
  }
}

function initialLang() {
  const saved = localStorage.getItem(STORE.lang);
  if (LANGS.includes(saved)) return saved;
  const nav = (navigator.language || '').slice(0, 2).toLowerCase();
  return LANGS.includes(nav) ? nav : 'en';
}

function wireSettings() {
  const saved = Number(localStorage.getItem(STORE.threshold));
  state.thresholdMinutes = Number.isFinite(saved) && saved > 0 ? saved : DEFAULT_THRESHOLD_MIN;
  $('#threshold').value = String(state.thresholdMinutes);
  $('#threshold-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const v = Number($('#threshold').value);
    if (!Number.isFinite(v) || v <= 0) return;
    state.thresholdMinutes = Math.round(v);
    localStorage.setItem(STORE.threshold, String(state.thresholdMinutes));
    $('#threshold-status').textContent = t('alerts.thresholdSaved', { threshold: fmtDuration(state.thresholdMinutes * 60) });
    renderAlerts();
  });
  $('#lang').addEventListener('change', (e) => applyLanguage(e.target.value));
  $('#detail-close').addEventListener('click', closeDetail);
  $('#detail-form').addEventListener('change', () => {
    if (!state.detail) return;
    state.detail = { ...state.detail, direction: $('#detail-direction').value, vehicleClass: $('#detail-class').value, points: null };
    void loadDetail();
  });
  $('#detail-form').addEventListener('submit', (e) => e.preventDefault());
  $('#crossings').addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-action]');
    if (!btn) return;
    if (btn.dataset.action === 'charts') openDetail(btn.dataset.crossing);
    if (btn.dataset.action === 'lanes') startLanesEdit(btn.dataset.crossing, btn.dataset.direction, btn.dataset.vehicleClass);
  });
  window.addEventListener('hashchange', onHash);
}

// ---------- boot ----------

/** Wakes the first-load retry loop early (the "Try again now" button). */
let retryNow = null;

function renderBootError() {
  const box = $('#overview-status');
  box.removeAttribute('data-i18n'); // translateDom must not put "Loading…" back over the error
  box.textContent = `${t('overview.loadError', { message: state.bootError.message })} ${t('overview.retrying', { n: fmtNumber(state.bootError.retryInS) })}`;
  const retry = h('button', { type: 'button', class: 'btn', id: 'overview-retry' }, t('overview.retry'));
  retry.addEventListener('click', () => retryNow?.());
  box.append(' ', retry);
}

/**
 * The first load (meta and crossings), retried with backoff until it succeeds: the page must come up by itself
 * when the API returns. Meta is optional: without it the defaults apply (15 min staleness, no capacity line).
 */
async function loadInitial() {
  let metaLoaded = false;
  for (let attempt = 0; ; attempt += 1) {
    if (!metaLoaded) {
      try {
        state.meta = { ...state.meta, ...(await getMeta()) };
        metaLoaded = true;
      } catch {
        // retried with the crossings; the defaults apply meanwhile
      }
    }
    try {
      await loadCrossings();
      return;
    } catch (err) {
      const delay = Math.min(BOOT_RETRY_MS.max, BOOT_RETRY_MS.first * 2 ** attempt);
      state.bootError = { message: err.message, retryInS: Math.round(delay / 1000) };
      const hadFocus = document.activeElement?.id === 'overview-retry';
      renderBootError();
      if (hadFocus) $('#overview-retry').focus();
      setConn('offline');
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, delay);
        retryNow = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      retryNow = null;
      $('#overview-status').textContent = t('overview.loading');
    }
  }
}

async function boot() {
  wireSettings();
  wireOfficial();
  applyLanguage(initialLang());
  await loadInitial();
  state.bootError = null;
  $('#overview-status').textContent = '';
  renderOverview();
  renderOfficialSelects();
  prefillLanes();
  renderAlerts();
  loadMap($('#map'))
    .then((svg) => {
      state.mapSvg = svg;
      refreshMap();
    })
    .catch(() => {
      $('#map').replaceChildren(h('p', { class: 'muted', 'data-i18n': 'map.loadError' }, t('map.loadError')));
    });
  connectLive({
    onEstimate: applyEstimate,
    onState: (s, { since }) => setConn(s, since),
    // After a drop the server replays from Last-Event-ID; a full reload also covers a stream that expired meanwhile.
    onReopen: () => loadCrossings().then(flushAll).catch(() => undefined),
  });
  setInterval(() => {
    for (const c of state.crossings) updateCrossing(c.id);
    refreshMap();
    renderAlerts();
  }, TICK_MS);
  onHash();
  void seedGrowth();
  document.body.dataset.ready = 'true';
}

function flushAll() {
  for (const c of state.crossings) dirty.add(c.id);
  flush();
}

void boot();
