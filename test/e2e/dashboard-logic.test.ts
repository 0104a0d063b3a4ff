/**
 * The dashboard's pure modules (services/api/public/model.js and i18n.js) run in Node: the events an official's
 * form builds must pass the real contract validator, alerts and staleness follow the rules, and every string
 * exists in all three languages. Browser behaviour is in dashboard-fixture.test.ts / dashboard.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent, InstantSchema } from '../../shared/events/index.ts';
import { QueueEstimateSchema, type QueueEstimate } from '../../shared/estimates.ts';

// Plain browser modules without type declarations: imported by URL, typed here by what the tests use.
const pub = (f: string) => new URL(`../../services/api/public/${f}`, import.meta.url).href;
const model = await import(pub('model.js'));
const i18n = await import(pub('i18n.js'));
const live = await import(pub('live.js'));

const catalogue = loadCatalogue();
const crossing = catalogue.crossings[0]!;
const NOW = Date.parse('2026-11-22T10:00:00Z');
const STALE_MS = 15 * 60_000;

const est = (patch: Partial<QueueEstimate> = {}): QueueEstimate =>
  QueueEstimateSchema.parse({
    crossingId: crossing.id,
    direction: crossing.directions[0],
    vehicleClass: crossing.vehicleClasses[0],
    status: 'open',
    statusUntil: null,
    statusReason: null,
    lanesOpen: 3,
    queueLength: 20,
    waitSeconds: 1800,
    waitP10Seconds: 1200,
    waitP90Seconds: 3000,
    lastEventAt: new Date(NOW - 60_000).toISOString(),
    asOf: new Date(NOW - 60_000).toISOString(),
    updatedAt: new Date(NOW).toISOString(),
    method: 'queue-model',
    stale: false,
    revision: 4,
    ...patch,
  });

describe('events built by the officials forms', () => {
  it('a lanes change passes the contract validator with an offset timestamp', () => {
    const lanesOpen = catalogue.profile(crossing.id, crossing.vehicleClasses[0]!)!.lanesMax; // more is refused
    const ev = model.lanesChangedEvent({ eventId: randomUUID(), now: new Date(), crossingId: crossing.id, direction: crossing.directions[0], vehicleClass: crossing.vehicleClasses[0], lanesOpen });
    const res = validateEvent(ev, { catalogue });
    expect(res).toEqual({ ok: true, event: ev });
    expect(ev.occurredAt).toMatch(/[+-]\d\d:\d\d$/);
  });

  it('a closure with reason, reopening time and queue scope passes; without scope it has no direction', () => {
    const now = new Date();
    const until = new Date(now.getTime() + 2 * 3600_000);
    const scoped = model.crossingStatusEvent({ eventId: randomUUID(), now, crossingId: crossing.id, status: 'closed', until, reason: 'repairs', direction: crossing.directions[1], vehicleClass: 'car' });
    expect(validateEvent(scoped, { catalogue }).ok).toBe(true);
    expect(Date.parse(scoped.until) - Date.parse(scoped.occurredAt)).toBe(2 * 3600_000);
    const whole = model.crossingStatusEvent({ eventId: randomUUID(), now, crossingId: crossing.id, status: 'open' });
    expect(validateEvent(whole, { catalogue }).ok).toBe(true);
    expect(Object.keys(whole).sort()).toEqual(['crossingId', 'eventId', 'occurredAt', 'status', 'type']);
  });

  it('isoWithOffset names the same instant as the Date it came from', () => {
    for (const ms of [0, NOW, NOW + 123, Date.UTC(2026, 2, 29, 1, 30)]) {
      const iso = model.isoWithOffset(new Date(ms));
      expect(InstantSchema.safeParse(iso).success).toBe(true);
      expect(Date.parse(iso)).toBe(ms);
    }
  });
});

describe('severity, staleness and alerts', () => {
  it('grades waits and treats closed and unknown separately', () => {
    expect(model.severityOf(est({ waitSeconds: 10 * 60 }))).toBe('low');
    expect(model.severityOf(est({ waitSeconds: 60 * 60 }))).toBe('medium');
    expect(model.severityOf(est({ waitSeconds: 3 * 3600 }))).toBe('high');
    expect(model.severityOf(est({ waitSeconds: 9 * 3600 }))).toBe('severe');
    expect(model.severityOf(est({ status: 'closed', waitSeconds: null }))).toBe('closed');
    expect(model.severityOf(est({ waitSeconds: null }))).toBe('unknown');
    expect(model.worstSeverity([est({ waitSeconds: 60 }), est({ waitSeconds: 9 * 3600 })])).toBe('severe');
  });

  it('a source that went silent is stale even though its last estimate said it was fresh', () => {
    expect(model.isStale(est(), NOW, STALE_MS)).toBe(false);
    const silent = est({ lastEventAt: new Date(NOW - 20 * 60_000).toISOString(), stale: false });
    expect(model.isStale(silent, NOW, STALE_MS)).toBe(true);
    expect(model.isStale(est({ stale: true }), NOW, STALE_MS)).toBe(true);
  });

  const alertsFor = (estimates: QueueEstimate[], opts: { growing?: string[]; thresholdSeconds?: number } = {}) =>
    model.computeAlerts({
      crossings: [crossing],
      estimates: new Map(estimates.map((e) => [model.queueKey(e), e])),
      growing: new Set(opts.growing ?? []),
      thresholdSeconds: opts.thresholdSeconds ?? 3600,
      now: NOW,
      staleAfterMs: STALE_MS,
    });

  it('raises a wait alert only above the threshold', () => {
    expect(alertsFor([est({ waitSeconds: 3500 })]).filter((a: { kind: string }) => a.kind === 'wait')).toEqual([]);
    const [a] = alertsFor([est({ waitSeconds: 3700 })]).filter((x: { kind: string }) => x.kind === 'wait');
    expect(a).toMatchObject({ kind: 'wait', crossingId: crossing.id, waitSeconds: 3700 });
  });

  it('reports a whole-crossing closure once, with its reopening time, first', () => {
    const all = catalogue.queues().filter((q) => q.crossingId === crossing.id).map((q) => est({ ...q, status: 'closed', statusUntil: '2026-11-22T14:00:00.000Z', statusReason: 'snow', waitSeconds: null }));
    const alerts = alertsFor([...all]);
    expect(alerts[0]).toMatchObject({ kind: 'closed', crossingId: crossing.id, until: '2026-11-22T14:00:00.000Z', reason: 'snow' });
    expect(alerts.filter((a: { kind: string }) => a.kind === 'closed')).toHaveLength(1);
    expect(model.crossingStatus(crossing, all).status).toBe('closed');
    expect(model.crossingStatus(crossing, [all[0], est()]).status).toBe('mixed');
  });

  it('calls a crossing restricted only when every queue is; one restricted queue makes it partly restricted', () => {
    const queues = catalogue.queues().filter((q) => q.crossingId === crossing.id);
    const restricted = (q: (typeof queues)[number]) => est({ ...q, status: 'restricted', statusReason: 'repairs' });
    expect(model.crossingStatus(crossing, queues.map(restricted))).toMatchObject({ status: 'restricted', reason: 'repairs' });
    const one = queues.map((q, i) => (i === 1 ? restricted(q) : est({ ...q })));
    expect(model.crossingStatus(crossing, one)).toMatchObject({ status: 'mixed-restricted', reason: 'repairs' });
    // a closed queue outranks a restricted one
    const both = one.map((e: QueueEstimate, i: number) => (i === 0 ? { ...e, status: 'closed' } : e));
    expect(model.crossingStatus(crossing, both).status).toBe('mixed');
  });

  it('reports a silent source and does not show its old wait as an alert', () => {
    const silent = est({ waitSeconds: 5 * 3600, lastEventAt: new Date(NOW - 3600_000).toISOString() });
    const kinds = alertsFor([silent]).map((a: { kind: string }) => a.kind);
    expect(kinds).toContain('stale');
    expect(kinds).not.toContain('wait');
  });

  it('detects a queue growing faster than it is served, from samples or from history counts', () => {
    let samples: { t: number; q: number }[] = [];
    for (let i = 0; i <= 12; i++) samples = model.addSample(samples, NOW + i * 5 * 60_000, 20 + i * 2);
    expect(model.isGrowing(samples)).toBe(true);
    let flat: { t: number; q: number }[] = [];
    for (let i = 0; i <= 12; i++) flat = model.addSample(flat, NOW + i * 5 * 60_000, 20 + (i % 2));
    expect(model.isGrowing(flat)).toBe(false);
    const pts = (arrivals: number, served: number) => Array.from({ length: 12 }, (_, i) => ({ t: NOW + i * 300_000, arrivals, served }));
    expect(model.arrivalsOutpaceService(pts(6, 4))).toBe(true);
    expect(model.arrivalsOutpaceService(pts(4, 4))).toBe(false);
    const key = model.queueKey(est());
    expect(alertsFor([est()], { growing: [key] }).map((a: { kind: string }) => a.kind)).toContain('growing');
  });

  it('sums served vehicles per hour and computes capacity from the lanes open', () => {
    const h0 = Date.UTC(2026, 10, 22, 8);
    const pts = [0, 1, 2, 3].map((i) => ({ t: h0 + i * 900_000, served: 5, lanesOpen: i < 2 ? 2 : 4 }));
    expect(model.hourlyThroughput(pts, 6)).toEqual([{ t: h0, served: 20, capacity: 18 }]);
  });
});

describe('translations', () => {
  it('every English string exists in Kazakh and Russian with the same placeholders', () => {
    const dicts = i18n.DICTS as Record<'en' | 'ru' | 'kk', Record<string, string>>;
    const ph = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const lang of ['ru', 'kk'] as const) {
      const dict = dicts[lang];
      expect(Object.keys(dict).sort(), lang).toEqual(Object.keys(dicts.en).sort());
      for (const k of Object.keys(dicts.en)) expect(ph(dict[k]!), `${lang} ${k}`).toEqual(ph(dicts.en[k]!));
    }
  });

  it('formats durations per language and labels zones with their UTC offset', () => {
    i18n.setLang('ru');
    expect(i18n.fmtDuration(85 * 60)).toBe('1 ч 25 мин');
    i18n.setLang('kk');
    expect(i18n.fmtDuration(85 * 60)).toBe('1 сағ 25 мин');
    expect(i18n.t('status.closedUntil', { time: 'X' })).toBe('X дейін жабық');
    i18n.setLang('en');
    expect(i18n.fmtDuration(20)).toBe('under 1 min');
    expect(i18n.fmtDuration(50 * 3600)).toBe('2 d 2 h');
    expect(i18n.fmtDuration(null)).toBe('unknown');
    expect(i18n.tzLabel('Asia/Tashkent', NOW)).toBe('UTC+5, Asia/Tashkent');
    expect(i18n.tzLabel('Asia/Shanghai', NOW)).toBe('UTC+8, Asia/Shanghai');
    expect(i18n.tzLabel('UTC', NOW)).toBe('UTC, UTC');
  });
});

describe('the live stream', () => {
  const parse = (chunks: string[]) => {
    const events: { type: string; data: string; lastEventId: string }[] = [];
    const retries: number[] = [];
    const p = live.createSseParser({ onEvent: (e: (typeof events)[number]) => events.push(e), onRetry: (ms: number) => retries.push(ms) });
    for (const c of chunks) p.push(c);
    return { events, retries, lastEventId: p.lastEventId as string };
  };

  it('parses what the API sends: retry, comments (heartbeats), id, event and data', () => {
    const text = 'retry: 3000\n: kezek estimates stream\n\n: heartbeat 2026-11-22T10:00:00Z\n\nid: 41\nevent: estimate\ndata: {"a":1}\n\nid: 42\nevent: estimate\ndata: {"a":2}\n\n';
    const whole = parse([text]);
    expect(whole.retries).toEqual([3000]);
    expect(whole.events).toEqual([
      { type: 'estimate', data: '{"a":1}', lastEventId: '41' },
      { type: 'estimate', data: '{"a":2}', lastEventId: '42' },
    ]);
    expect(whole.lastEventId).toBe('42');
    // the same bytes cut anywhere give the same events
    for (let cut = 1; cut < text.length; cut += 7) expect(parse([text.slice(0, cut), text.slice(cut)]).events).toEqual(whole.events);
    expect(parse([...text]).events).toEqual(whole.events);
  });

  it('follows the SSE rules: CRLF and CR line ends, multi-line data, default type, BOM, no dispatch without data', () => {
    const { events, lastEventId } = parse(['\uFEFFdata: one\r\ndata:two\r', '\n\r\nid: 7\revent: x\r\r', 'id: 8\n\ndata', '\n\n']);
    expect(events).toEqual([
      { type: 'message', data: 'one\ntwo', lastEventId: '' },
      { type: 'message', data: '', lastEventId: '8' },
    ]);
    expect(lastEventId).toBe('8');
    // an event without data is not dispatched, but its id still counts for Last-Event-ID
    expect(parse(['id: 9\nevent: estimate\n\n']).events).toEqual([]);
    expect(parse(['id: 9\nevent: estimate\n\n']).lastEventId).toBe('9');
    expect(parse(['retry: soon\n\n']).retries).toEqual([]);
  });

  it('waits for two heartbeats and a margin before calling a silent connection dead, and 30 s more before offline', () => {
    expect(live.SILENCE_MS).toBeGreaterThanOrEqual(2 * 15_000);
    expect(live.SILENCE_MS).toBeLessThanOrEqual(40_000);
    expect(live.OFFLINE_AFTER_MS).toBe(30_000);
    expect(live.CONNECT_TIMEOUT_MS).toBeLessThan(live.SILENCE_MS);
  });
});

describe('Kazakh dates without Kazakh locale data', () => {
  it('the built-in month abbreviations give what full ICU gives', () => {
    expect(i18n.lacksMonthNames('en-GB')).toBe(false);
    const fmt = (zone: string) => new Intl.DateTimeFormat('kk-KZ', { timeZone: zone, day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    for (let m = 0; m < 12; m++) {
      for (const zone of ['Asia/Almaty', 'Asia/Tashkent', 'UTC']) {
        const ms = Date.UTC(2026, m, 3 + m * 2, 20, 5);
        expect(i18n.kkDateTime(ms, zone), `${m} ${zone}`).toBe(fmt(zone).format(ms));
      }
    }
    expect(i18n.kkDateTime(Date.parse('2026-11-23T03:00:00Z'), 'Asia/Almaty')).toMatch(/^23 қар\., 0[89]:00$/);
  });
});
