/**
 * Row 2, freshness: time from publishing an event to the changed estimate being readable, at several offered
 * rates. Background traffic (stamped "now") runs round-robin on the 71 other catalogued queues; PROBES are
 * queue.observed events on korday/KZ-KG/car (which gets no other traffic) with a queue length different from the
 * previous probe, 4 per second. A probe counts as readable when an estimate of that queue with
 * lastEventAt >= the probe's event time is published on the estimates subject (the estimator stores it in Redis
 * before publishing; a later probe in the same batch supersedes an earlier one, both are then readable).
 * Baseline: the same traffic through a bare stream and the raw consumer, which echoes each message on a core
 * subject after its Lua call and ack; the probe latency is publish -> echo received.
 */
import type { Msg } from '@nats-io/transport-node';
import type { KezekEvent } from '../../shared/events/index.ts';
import { subjectForEvent, subjects } from '../../shared/events/subjects.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { createLiveTraffic } from '../lib/events.ts';
import { BENCH_PSEUDONYM_KEY, type Harness } from '../lib/harness.ts';
import { startChild } from '../lib/procs.ts';
import { baselineNames } from '../services/ipc.ts';
import { fmt, judge, percentile, type ResultRow } from '../lib/stats.ts';

const PROBE_QUEUE = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car' as const };
const PROBES_PER_SECOND = 4;
const GRACE_MS = 10_000;
const MAX_INFLIGHT = 5000;

export interface FreshnessResult {
  offered: number;
  achieved: number;
  probes: number;
  latenciesMs: number[];
  lost: number;
}

interface Sink {
  /** Publishes one event; returns false when too many publishes are in flight (the event is not offered). */
  send(ev: KezekEvent): boolean;
  flush(): Promise<void>;
}

type Probes = Map<number, { t0: number; latency?: number }>;

/** Offers `rate` events/s for `seconds`, probes included; registers each probe (by event time) in `probes`. */
async function drive(h: Harness, rate: number, seconds: number, sink: Sink, tag: string, probes: Probes): Promise<{ achieved: number }> {
  const queues = h.catalogue.queues().filter((q) => !(q.crossingId === PROBE_QUEUE.crossingId && q.direction === PROBE_QUEUE.direction && q.vehicleClass === PROBE_QUEUE.vehicleClass));
  const background = createLiveTraffic(queues, `${tag}bg`);
  let sent = 0;
  let probesSent = 0;
  let lastProbeMs = 0;
  const start = performance.now();
  const wallStart = Date.now();
  const durationMs = seconds * 1000;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs) break;
    const dueProbes = Math.floor((elapsed / 1000) * PROBES_PER_SECOND) + 1 - probesSent;
    for (let i = 0; i < dueProbes; i++) {
      const at = Math.max(wallStart + Math.round(elapsed), lastProbeMs + 1);
      lastProbeMs = at;
      const ev: KezekEvent = { ...PROBE_QUEUE, eventId: `${tag}probe:${probesSent}`, type: 'queue.observed', queueLength: 10 + (probesSent % 37) * 2, occurredAt: new Date(at).toISOString(), source: 'bench' };
      probes.set(at, { t0: performance.now() });
      sink.send(ev);
      probesSent++;
      sent++;
    }
    const due = Math.floor((elapsed / 1000) * rate) - sent;
    for (let i = 0; i < due; i++) {
      if (!sink.send(background(wallStart + Math.round(elapsed)))) break;
      sent++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await sink.flush();
  return { achieved: (sent * 1000) / (performance.now() - start) };
}

function jsSink(h: Harness, subjectOf: (ev: KezekEvent) => string): Sink {
  const inflight = new Set<Promise<unknown>>();
  return {
    send(ev) {
      if (inflight.size >= MAX_INFLIGHT) return false;
      const clean = pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, BENCH_PSEUDONYM_KEY);
      const p: Promise<unknown> = h.js
        .publish(subjectOf(clean), JSON.stringify(clean), { msgID: clean.eventId, timeout: 30_000 })
        .catch(() => undefined)
        .finally(() => inflight.delete(p));
      inflight.add(p);
      return true;
    },
    flush: async () => {
      await Promise.all(inflight);
    },
  };
}

async function settle(probes: Probes): Promise<void> {
  const deadline = Date.now() + GRACE_MS;
  while (Date.now() < deadline && [...probes.values()].some((p) => p.latency === undefined)) await new Promise((r) => setTimeout(r, 50));
}

function summarise(offered: number, achieved: number, probes: Probes): FreshnessResult {
  const all = [...probes.values()];
  const latenciesMs = all.filter((p) => p.latency !== undefined).map((p) => p.latency!);
  return { offered, achieved, probes: all.length, latenciesMs, lost: all.length - latenciesMs.length };
}

async function measureEstimator(h: Harness, rate: number, seconds: number): Promise<FreshnessResult> {
  const prefix = h.newPrefix(`fresh${rate}`);
  const s = subjects(prefix);
  const est = await startChild('estimator', { env: h.env(prefix) });
  const probes: Probes = new Map();
  const sub = h.nc.subscribe(s.estimatesFor(PROBE_QUEUE.crossingId, PROBE_QUEUE.direction, PROBE_QUEUE.vehicleClass), {
    callback: (_err: Error | null, m: Msg) => {
      const now = performance.now();
      const last = (JSON.parse(m.string()) as { lastEventAt: string | null }).lastEventAt;
      if (last === null) return;
      const lastMs = Date.parse(last);
      for (const [t, p] of probes) if (p.latency === undefined && t <= lastMs) p.latency = now - p.t0;
    },
  });
  const run = await drive(h, rate, seconds, jsSink(h, (ev) => subjectForEvent(s, ev)), `f${rate}`, probes);
  await settle(probes);
  sub.unsubscribe();
  await est.stop();
  await h.cleanup(prefix);
  return summarise(rate, run.achieved, probes);
}

async function measureBaseline(h: Harness, rate: number, seconds: number): Promise<FreshnessResult> {
  const prefix = h.newPrefix(`freshb${rate}`);
  const names = baselineNames(prefix);
  const echo = `${prefix}.echo`;
  const probes: Probes = new Map();
  const sub = h.nc.subscribe(echo, {
    callback: (_err: Error | null, m: Msg) => {
      const now = performance.now();
      const text = m.string();
      if (!text.includes('probe:')) return;
      const t = Date.parse((JSON.parse(text) as { occurredAt: string }).occurredAt);
      const p = probes.get(t);
      if (p && p.latency === undefined) p.latency = now - p.t0;
    },
  });
  const base = await startChild('baseline', { env: h.env(prefix), args: ['--echo', echo] });
  const run = await drive(h, rate, seconds, jsSink(h, () => names.subject), `fb${rate}`, probes);
  await settle(probes);
  sub.unsubscribe();
  await base.stop();
  await h.cleanup(prefix);
  return summarise(rate, run.achieved, probes);
}

const p = (r: FreshnessResult, q: number) => (r.lost > 0 && r.lost / r.probes > 1 - q / 100 ? Infinity : percentile(r.latenciesMs, q));
const ms = (v: number) => (v === Infinity ? `>${GRACE_MS / 1000} s (lost)` : fmt(v, 'ms'));

export async function freshnessRow(h: Harness): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const rate of h.opts.freshnessRates) {
    h.progress(`freshness: ${rate} events/s for ${h.opts.freshnessSeconds} s through the estimator`);
    const r = await measureEstimator(h, rate, h.opts.freshnessSeconds);
    h.progress(`freshness: ${rate} events/s for ${h.opts.freshnessSeconds} s through the raw baseline`);
    const b = await measureBaseline(h, rate, h.opts.freshnessSeconds);
    const p99 = p(r, 99);
    const target = rate === 1000 ? { op: '<' as const, threshold: 100, label: 'p99 < 100 ms' } : undefined;
    rows.push({
      group: '2 freshness',
      what: `${rate} ev/s offered (${fmt(r.achieved, 'ev/s')} sent), ${r.probes} probes, ${r.lost} unanswered: p50 / p99`,
      result: `${ms(p(r, 50))} / ${ms(p99)}`,
      baseline: `${ms(p(b, 50))} / ${ms(p(b, 99))}`,
      ratio: Number.isFinite(p99) && Number.isFinite(p(b, 99)) ? `${fmt(p99 / p(b, 99), 'x')} p99` : '-',
      target: target?.label ?? '-',
      verdict: target ? (Number.isFinite(p99) ? judge(p99, target) : 'FAIL') : 'info',
      data: {
        rate,
        estimator: { achieved: r.achieved, probes: r.probes, lost: r.lost, p50: p(r, 50), p99, max: Math.max(...r.latenciesMs, 0) },
        baseline: { achieved: b.achieved, probes: b.probes, lost: b.lost, p50: p(b, 50), p99: p(b, 99), max: Math.max(...b.latenciesMs, 0) },
      },
    });
  }
  return rows;
}
