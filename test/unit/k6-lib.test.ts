/**
 * The k6-free helpers behind the load scripts (test/load/lib): load shapes, generated events, SSE counting
 * and the summary renderer. Plain functions, so they are tested directly with the real event contract.
 */
import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import {
  PROFILES,
  PROFILE_NAMES,
  arrivalRateScenario,
  parseDurationSeconds,
  probeScenario,
  profileName,
  scenarioMaxSeconds,
  stagesFor,
  vuScenario,
} from '../load/lib/profiles.ts';
import { buildBatch, buildProbe, lifecyclePlan, newRunId, probeQueueLength, reflectsProbe, PROBE_TOLERANCE } from '../load/lib/events.ts';
import { tallyStream } from '../load/lib/sse.ts';
import { redactUrl, summaryOutputs, textSummary, verdict, type SummaryData } from '../load/lib/summary.ts';

const catalogue = loadCatalogue();

describe('load profiles', () => {
  it('parses k6 durations and rejects anything k6 would not accept', () => {
    expect(parseDurationSeconds('30s')).toBe(30);
    expect(parseDurationSeconds('1m30s')).toBe(90);
    expect(parseDurationSeconds('2h')).toBe(7200);
    expect(parseDurationSeconds('500ms')).toBe(0.5);
    for (const bad of ['', '10', '1x', 's10', '1m 30s']) expect(() => parseDurationSeconds(bad), bad).toThrow(/not a k6 duration/);
  });

  it('defaults to smoke and refuses an unknown PROFILE instead of running another shape', () => {
    expect(profileName(undefined)).toBe('smoke');
    expect(profileName('  ')).toBe('smoke');
    expect(profileName('spike')).toBe('spike');
    expect(() => profileName('soak')).toThrow(/PROFILE must be one of smoke, load, stress, spike/);
  });

  it('smoke stays tiny whatever the nominal level; the others scale with it and never round a live stage to 0', () => {
    expect(stagesFor(PROFILES.smoke, 5000).map((s) => s.target)).toEqual([1, 2, 1]);
    expect(Math.max(...stagesFor(PROFILES.load, 100).map((s) => s.target))).toBe(100);
    expect(Math.max(...stagesFor(PROFILES.stress, 100).map((s) => s.target))).toBe(400);
    expect(stagesFor(PROFILES.spike, 2).map((s) => s.target)).toEqual([1, 10, 10, 1, 1]);
    expect(stagesFor(PROFILES.load, 100).at(-1)!.target).toBe(0);
  });

  it('every smoke scenario, including one holding 20 s streams, ends within a minute; load runs for minutes', () => {
    const smoke = PROFILES.smoke;
    const scenarios = [
      arrivalRateScenario(smoke, { exec: 'x', nominalPerSecond: 100, maxVUs: 300 }),
      vuScenario(smoke, { exec: 'x', nominalVUs: 200, holdSeconds: smoke.streamHoldSeconds }),
      probeScenario(smoke, { exec: 'x', iterationSeconds: 11 }),
    ];
    for (const s of scenarios) expect(scenarioMaxSeconds(s)).toBeLessThan(60);
    expect(scenarioMaxSeconds(arrivalRateScenario(PROFILES.load, { exec: 'x', nominalPerSecond: 100, maxVUs: 300 }))).toBeGreaterThan(600);
  });

  it('stretches the graceful stop past one held stream so the last streams complete', () => {
    const s = vuScenario(PROFILES.smoke, { exec: 'x', nominalVUs: 1, holdSeconds: 20 });
    expect(parseDurationSeconds(s.gracefulStop)).toBeGreaterThan(20);
    expect(parseDurationSeconds(s.gracefulRampDown)).toBeGreaterThan(20);
  });

  it('caps the smoke VU pool so a smoke run cannot open hundreds of connections', () => {
    const s = arrivalRateScenario(PROFILES.smoke, { exec: 'x', nominalPerSecond: 100, maxVUs: 300 });
    expect(s.maxVUs).toBeLessThanOrEqual(10);
    expect(s.preAllocatedVUs).toBeLessThanOrEqual(s.maxVUs);
    for (const name of PROFILE_NAMES) expect(PROFILES[name].description.length).toBeGreaterThan(10);
  });
});

describe('generated events', () => {
  const queues = catalogue.queues();
  const now = Date.parse('2026-11-22T06:00:00Z');

  it('fills a batch exactly with whole vehicle lifecycles', () => {
    for (let size = 2; size <= 1000; size++) {
      const { served, abandoned } = lifecyclePlan(size);
      expect(served * 3 + abandoned * 2, `size ${size}`).toBe(size);
      expect(served).toBeGreaterThanOrEqual(0);
    }
    expect(() => lifecyclePlan(1)).toThrow(/>= 2/);
  });

  it('builds contract-valid events, each vehicle arriving before it is served, crosses or leaves', () => {
    const batch = buildBatch({ runId: 'r1', vu: 3, iteration: 7 }, 100, queues, now);
    expect(batch).toHaveLength(100);
    for (const e of batch) expect(validateEvent(e, { catalogue, now }).ok, e.eventId).toBe(true);
    const byRef = new Map<string, typeof batch>();
    for (const e of batch) {
      const ref = 'vehicleRef' in e ? e.vehicleRef : '';
      byRef.set(ref, [...(byRef.get(ref) ?? []), e]);
    }
    expect(byRef.has('')).toBe(false);
    expect(byRef.size).toBe(lifecyclePlan(100).served + lifecyclePlan(100).abandoned);
    for (const events of byRef.values()) {
      expect(events[0]!.type).toBe('vehicle.arrived');
      const times = events.map((e) => Date.parse(e.occurredAt));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect(new Set(events.map((e) => `${e.crossingId}|${e.direction}|${e.vehicleClass}`)).size).toBe(1);
      expect(Math.max(...times)).toBeLessThanOrEqual(now);
    }
  });

  it('never repeats an event id across VUs, iterations or runs', () => {
    const ids = new Set<string>();
    let total = 0;
    for (const runId of [newRunId(() => 0.1, now), newRunId(() => 0.2, now)]) {
      for (let vu = 1; vu <= 3; vu++) {
        for (let iteration = 0; iteration < 3; iteration++) {
          for (const e of buildBatch({ runId, vu, iteration }, 50, queues, now)) ids.add(e.eventId);
          ids.add(buildProbe({ runId, vu, iteration }, queues[0]!, now).eventId);
          total += 51;
        }
      }
    }
    expect(ids.size).toBe(total);
    expect(newRunId(() => 0.1, now)).not.toBe(newRunId(() => 0.2, now));
  });

  it('probes are valid queue.observed events whose consecutive values cannot be mistaken for each other', () => {
    const probe = buildProbe({ runId: 'r', vu: 1, iteration: 4 }, queues[0]!, now);
    expect(validateEvent(probe, { catalogue, now }).ok).toBe(true);
    expect(probe.occurredAt).toBe('2026-11-22T06:00:00.000Z');
    for (let i = 0; i < 500; i++) {
      const a = probeQueueLength(i);
      const b = probeQueueLength(i + 1);
      expect(reflectsProbe(a, a)).toBe(true);
      expect(reflectsProbe(b, a)).toBe(false);
      expect(a).toBeLessThanOrEqual(1_000_000);
    }
    expect(reflectsProbe(probeQueueLength(0) + PROBE_TOLERANCE - 1, probeQueueLength(0))).toBe(true);
    expect(reflectsProbe(12, probeQueueLength(0))).toBe(false);
  });
});

describe('SSE stream tally', () => {
  it('counts complete named events, valid estimates and heartbeat comments; a cut-off tail is partial', () => {
    const text = ': hello\n\nevent: estimate\nid: 1\ndata: {"crossingId":"korday"}\n\nevent: estimate\ndata: not json\n\n: heartbeat\n\ndata: plain\n\nevent: estimate\ndata: {"cross';
    const t = tallyStream(text);
    expect(t.events).toEqual({ estimate: 2, message: 1 });
    expect(t.eventCount).toBe(3);
    expect(t.validEstimates).toBe(1);
    expect(t.heartbeats).toBe(2);
    expect(t.partial).toBe(true);
  });

  it('handles CRLF framing, multi-line data and a stream that ends on a heartbeat', () => {
    const t = tallyStream('event: estimate\r\ndata: {"crossingId":\r\ndata: "korday"}\r\n\r\n: heartbeat\r\n');
    expect(t.validEstimates).toBe(1);
    expect(t.heartbeats).toBe(1);
    expect(t.partial).toBe(false);
    expect(tallyStream('')).toEqual({ events: {}, eventCount: 0, heartbeats: 0, validEstimates: 0, partial: false });
  });
});

describe('summary', () => {
  const data: SummaryData = {
    state: { testRunDurationMs: 30_512 },
    metrics: {
      'http_req_duration{kind:api}': { type: 'trend', contains: 'time', values: { avg: 12.5, 'p(95)': 48, 'p(99)': 1500 }, thresholds: { 'p(95)<100': { ok: true }, 'p(99)<250': { ok: false } } },
      checks: { type: 'rate', contains: 'default', values: { rate: 1, passes: 40, fails: 0 }, thresholds: { 'rate>0.99': { ok: true } } },
      data_received: { type: 'counter', contains: 'data', values: { count: 2_097_152, rate: 68_000 } },
      vus: { type: 'gauge', contains: 'default', values: { value: 2, min: 1, max: 2 } },
    },
  };
  const run = { journey: 'poll-waits', profile: 'smoke', baseUrl: 'http://127.0.0.1:3000', summaryPath: '' };

  it('fails the verdict when any threshold failed and lists each threshold', () => {
    const v = verdict(data, run);
    expect(v.passed).toBe(false);
    expect(v.durationSeconds).toBe(30.512);
    expect(v.thresholds).toEqual([
      { metric: 'checks', threshold: 'rate>0.99', ok: true },
      { metric: 'http_req_duration{kind:api}', threshold: 'p(95)<100', ok: true },
      { metric: 'http_req_duration{kind:api}', threshold: 'p(99)<250', ok: false },
    ]);
    const text = textSummary(data, run);
    expect(text).toContain('FAIL http_req_duration{kind:api}: p(99)<250');
    expect(text).toContain('p(99)=1.50s');
    expect(text).toContain('100.00% (40 of 40)');
    expect(text).toContain('2.00 MiB');
    expect(text).toContain('verdict: FAILED');
  });

  it('passes when every threshold holds, and writes JSON only when a path is given', () => {
    const ok: SummaryData = { metrics: { checks: data.metrics.checks! } };
    expect(verdict(ok, run).passed).toBe(true);
    expect(Object.keys(summaryOutputs(ok, run))).toEqual(['stdout']);
    const out = summaryOutputs(ok, { ...run, summaryPath: 'summary.json' });
    expect(JSON.parse(out['summary.json']!)).toMatchObject({ journey: 'poll-waits', passed: true, durationSeconds: null });
  });

  it('strips credentials from the target URL', () => {
    expect(redactUrl('https://ops:hunter2@kezek.example:8443/base')).toBe('https://kezek.example:8443/base');
    expect(redactUrl('http://127.0.0.1:3000')).toBe('http://127.0.0.1:3000');
  });
});
