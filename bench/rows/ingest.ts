/**
 * Row 1, ingest: events/second END TO END (first byte sent -> the estimator has applied and acked every event)
 * (a) through `POST /v1/events` in batches of 500 and (b) published directly to JetStream, beside the RAW
 * baseline: the same payloads published to a bare stream and pull-consumed with one trivial Lua call each.
 * Each variant gets its own prefix (fresh stream, empty store) and its own child processes; each consumer first
 * processes the same number of warm-up events (untimed), and every timed message is serialised before the clock
 * starts, on both sides.
 */
import type { KezekEvent } from '../../shared/events/index.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { ingestWorkload, prepareEvents, publishPrepared } from '../lib/events.ts';
import { BENCH_PRODUCER_TOKEN, BENCH_PSEUDONYM_KEY, type Harness } from '../lib/harness.ts';
import { cpuMs, startChild, waitUntil, type BenchChild } from '../lib/procs.ts';
import { baselineNames, type ChildStats } from '../services/ipc.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { fmt, fmtPairedRatio, fmtRatio, judge, median, pairedRatio, ratio, type ResultRow } from '../lib/stats.ts';

const BATCH = 500;
const HTTP_CONCURRENCY = 4;
/**
 * Events each consumer (estimator or baseline) processes before the timed part, so both are measured warm (JIT
 * compiled, connections and scripts loaded), as a long-running service is: a cold start is paid once per process,
 * not per event. Same count on both sides.
 */
const WARMUP_EVENTS = 2_000;

/** Waits until the child has processed `target` more messages than `from`; returns the wall-clock ms it happened. */
async function drained(child: BenchChild, from: number, target: number, timeoutMs: number): Promise<number> {
  let at = 0;
  await waitUntil(async () => {
    const s = await child.stats({ memory: false });
    if ((s.processed ?? 0) - from >= target) {
      at = performance.now();
      return true;
    }
    return false;
  }, `${child.name} to process ${target} messages`, timeoutMs, 25);
  return at;
}

/** When every queue the events touched has its estimate refreshed (the estimator's refreshPending is 0). */
async function estimatesCaughtUp(child: BenchChild, timeoutMs: number): Promise<number> {
  let at = 0;
  await waitUntil(async () => {
    if (((await child.stats({ memory: false })).counters?.refreshPending ?? 0) > 0) return false;
    at = performance.now();
    return true;
  }, 'the estimates to catch up', timeoutMs, 10);
  return at;
}

/** Serialises events into POST bodies of BATCH events (before any clock starts). */
function batchBodies(events: readonly KezekEvent[]): { body: string; size: number }[] {
  const bodies: { body: string; size: number }[] = [];
  for (let i = 0; i < events.length; i += BATCH) bodies.push({ body: JSON.stringify(events.slice(i, i + BATCH)), size: Math.min(BATCH, events.length - i) });
  return bodies;
}

/** POSTs prepared batches, HTTP_CONCURRENCY requests at a time. */
async function postBodies(port: number, bodies: readonly { body: string; size: number }[]): Promise<{ accepted: number; failed: number }> {
  let next = 0;
  let accepted = 0;
  let failed = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const b = bodies[next++]!;
      const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_PRODUCER_TOKEN}` },
        body: b.body,
      });
      const body = (await res.json()) as { accepted?: number };
      if (res.status === 202) accepted += body.accepted ?? 0;
      else failed += b.size;
    }
  };
  await Promise.all(Array.from({ length: HTTP_CONCURRENCY }, worker));
  return { accepted, failed };
}

/** CPU of every process taking part: the producer (this runner's publishing, or the API in (a)), the consumer, nats-server, redis-server. */
type Cpu = { producer: number; consumer: number; nats: number; redis: number };
/** This process's CPU ms so far (the runner publishes in (b) and in the baseline). */
const runnerCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const cpuOf = (h: Harness, pid: number, producerPid?: number): Cpu => ({
  producer: producerPid === undefined ? runnerCpuMs() : cpuMs(producerPid),
  consumer: cpuMs(pid),
  nats: cpuMs(h.nats.pid),
  redis: cpuMs(h.redisServer.pid),
});
/** CPU ms per 1000 events since `from`. */
function cpuSince(h: Harness, pid: number, from: Cpu, events: number, producerPid?: number): Cpu {
  const now = cpuOf(h, pid, producerPid);
  const per = (a: number, b: number) => ((a - b) * 1000) / events;
  return { producer: per(now.producer, from.producer), consumer: per(now.consumer, from.consumer), nats: per(now.nats, from.nats), redis: per(now.redis, from.redis) };
}
const cpuTotal = (c: Cpu) => c.producer + c.consumer + c.nats + c.redis;

interface Workload {
  events: KezekEvent[];
  warmup: KezekEvent[];
  payloads: string[];
  warmPayloads: string[];
  timeout: number;
}

interface RunResult {
  /** Events/s from the first byte sent until every event is applied AND in the published estimates. */
  rate: number;
  /** Events/s until every event is applied (acked after its Lua call), before the last refreshes. */
  appliedRate?: number;
  cpu?: Cpu;
  acceptRate?: number;
  publishOnlyRate?: number;
  /** ms from the last event applied until no queue waited for an estimate refresh. */
  catchUpMs?: number;
  accepted?: number;
  failed?: number;
  counters?: Record<string, number>;
  /** Estimate refreshes run between the start of the timed events and the estimates catching up. */
  timedRefreshes?: number;
  /** Of their window reads, those that read only what came after the queue's kept window (the rest: whole). */
  timedDeltaReads?: number;
  timedWholeReads?: number;
  /** Queue events per apply-events call in the timed part (how much each Redis call carried). */
  eventsPerApplyCall?: number;
}

/**
 * The end of a timed estimator run, once its events are sent (from `t0`): until every event is applied, then until
 * the estimates caught up (every touched queue refreshed); the CPU is counted up to then, because the refreshes
 * deferred past the last applied event are part of the cost.
 */
async function finishEstimatorRun(
  h: Harness,
  est: BenchChild,
  run: { count: number; t0: number; from: ChildStats; cpuFrom: Cpu; producerPid?: number; timeout: number },
): Promise<Omit<RunResult, 'acceptRate' | 'publishOnlyRate' | 'accepted' | 'failed'>> {
  const applied = await drained(est, run.from.processed ?? 0, run.count, run.timeout);
  const caughtUp = await estimatesCaughtUp(est, run.timeout);
  const cpu = cpuSince(h, est.pid, run.cpuFrom, run.count, run.producerPid);
  const { counters } = await est.stats();
  /** How much an estimator counter grew during the timed run. */
  const timed = (name: string) => (counters?.[name] ?? NaN) - (run.from.counters?.[name] ?? NaN);
  return {
    rate: (run.count * 1000) / (caughtUp - run.t0),
    appliedRate: (run.count * 1000) / (applied - run.t0),
    catchUpMs: caughtUp - applied,
    cpu,
    counters,
    timedRefreshes: timed('refreshes'),
    timedDeltaReads: timed('windowReadsDelta'),
    timedWholeReads: timed('windowReadsFull'),
    eventsPerApplyCall: timed('applyCallEvents') / timed('applyCalls'),
  };
}

/** (a) HTTP ingest: estimator + API children on a fresh prefix; warm-up, then the timed POSTs. */
async function runHttp(h: Harness, w: Workload): Promise<RunResult> {
  const count = w.events.length;
  const pa = h.newPrefix('inga');
  const estA = await startChild('estimator', { env: h.env(pa) });
  const api = await startChild('api', { env: h.env(pa) });
  const warmA = await postBodies(api.info.port as number, batchBodies(w.warmup));
  const bodies = batchBodies(w.events);
  await drained(estA, 0, warmA.accepted, w.timeout);
  await estimatesCaughtUp(estA, w.timeout); // the warm-up's own refreshes are not the timed events' cost
  const from = await estA.stats();
  const cpuFrom = cpuOf(h, estA.pid, api.pid);
  const t0 = performance.now();
  const posted = await postBodies(api.info.port as number, bodies);
  const tAccepted = performance.now();
  const end = await finishEstimatorRun(h, estA, { count, t0, from, cpuFrom, producerPid: api.pid, timeout: w.timeout });
  await api.stop();
  await estA.stop();
  await h.cleanup(pa);
  return { ...end, acceptRate: (count * 1000) / (tAccepted - t0), accepted: posted.accepted, failed: posted.failed };
}

/** (b) direct JetStream publishing to the estimator's stream. */
async function runDirect(h: Harness, w: Workload): Promise<RunResult> {
  const count = w.events.length;
  const pb = h.newPrefix('ingb');
  const estB = await startChild('estimator', { env: h.env(pb) });
  const preparedB = prepareEvents(w.events, subjects(pb), BENCH_PSEUDONYM_KEY);
  await publishPrepared(h.js, prepareEvents(w.warmup, subjects(pb), BENCH_PSEUDONYM_KEY));
  await drained(estB, 0, w.warmup.length, w.timeout);
  await estimatesCaughtUp(estB, w.timeout); // the warm-up's own refreshes are not the timed events' cost
  const from = await estB.stats();
  const cpuFrom = cpuOf(h, estB.pid);
  const t0 = performance.now();
  await publishPrepared(h.js, preparedB);
  const tPublished = performance.now();
  const end = await finishEstimatorRun(h, estB, { count, t0, from, cpuFrom, timeout: w.timeout });
  await estB.stop();
  await h.cleanup(pb);
  return { ...end, publishOnlyRate: (count * 1000) / (tPublished - t0) };
}

/**
 * Baseline: the same payloads on a bare stream, one trivial Lua call per message, acked one by one (`ackAll`:
 * cumulatively, as the estimator acks).
 */
async function runBaseline(h: Harness, w: Workload, ackAll = false): Promise<RunResult> {
  const count = w.events.length;
  const pc = h.newPrefix(ackAll ? 'ingbaseall' : 'ingbase');
  const base = await startChild('baseline', { env: h.env(pc), args: ackAll ? ['--ack-all'] : [] });
  const names = baselineNames(pc);
  await publishPrepared(h.js, w.warmPayloads.map((payload, i) => ({ subject: names.subject, payload, msgID: `basew:${i}` })));
  await drained(base, 0, w.warmPayloads.length, w.timeout);
  const fromC = (await base.stats()).processed ?? 0;
  const preparedC = w.payloads.map((payload, i) => ({ subject: names.subject, payload, msgID: `base:${i}` }));
  const cpuC = cpuOf(h, base.pid);
  const t0c = performance.now();
  await publishPrepared(h.js, preparedC);
  const endC = await drained(base, fromC, count, w.timeout);
  const cpu = cpuSince(h, base.pid, cpuC, count);
  await base.stop();
  await h.cleanup(pc);
  return { rate: (count * 1000) / (endC - t0c), cpu };
}

const medianOf = (xs: readonly (number | undefined)[]): number => median(xs.filter((x): x is number => x !== undefined && Number.isFinite(x)));
const medianCpu = (runs: readonly RunResult[]): Cpu => ({
  producer: medianOf(runs.map((r) => r.cpu?.producer)),
  consumer: medianOf(runs.map((r) => r.cpu?.consumer)),
  nats: medianOf(runs.map((r) => r.cpu?.nats)),
  redis: medianOf(runs.map((r) => r.cpu?.redis)),
});

/**
 * CPU ms per 1k events of every process taking part, until the estimates caught up (baseline: until processed).
 * On 2 saturated cores the rates follow the totals: rate ratio ~ baseline total / our total.
 */
function cpuRow(variant: string, producer: string, ours: Cpu, base: Cpu): ResultRow {
  const show = (c: Cpu) => `${fmt(c.producer, '', 0)} / ${fmt(c.consumer, '', 0)} / ${fmt(c.nats, '', 0)} / ${fmt(c.redis, '', 0)} = ${fmt(cpuTotal(c), '', 0)}`;
  return {
    group: '1 ingest',
    what: `    CPU ms per 1k events in ${variant}: ${producer} / consumer / nats-server / redis-server = total`,
    result: show(ours),
    baseline: show(base),
    ratio: `${fmtRatio(ratio(cpuTotal(base), cpuTotal(ours)))} (base/ours)`,
    target: '-',
    verdict: 'info',
    data: { ours, baseline: base, note: 'CPU ms per 1000 events, from /proc (the runner: process.cpuUsage); producer = the API in (a), the runner publishing in (b) and the baseline' },
  };
}

export async function ingestRow(h: Harness): Promise<ResultRow[]> {
  const n = h.opts.ingestEvents;
  h.progress(`ingest: generating ${n} DES events on the 72 catalogued queues`);
  // warm-up traffic: other eventIds, before the measured events
  const { events, warmup } = ingestWorkload(h.catalogue, n, WARMUP_EVENTS);
  const count = events.length;
  const serialise = (evs: readonly KezekEvent[]) => evs.map((ev) => JSON.stringify(pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, BENCH_PSEUDONYM_KEY)));
  const payloads = serialise(events);
  const w: Workload = { events, warmup, payloads, warmPayloads: serialise(warmup), timeout: Math.max(120_000, count * 5) };
  const avgBytes = payloads.reduce((a, p) => a + Buffer.byteLength(p), 0) / count;

  // Interleaved rounds, the order reversed every other round, so slow drifts of this shared machine hit both sides;
  // each round's ratio pairs runs a few seconds apart, and the verdict is on the median of the rounds' ratios.
  const rounds = h.opts.ingestRounds;
  const runsA: RunResult[] = [];
  const runsB: RunResult[] = [];
  const runsBase: RunResult[] = [];
  const runsBaseAll: RunResult[] = [];
  for (let i = 0; i < rounds; i++) {
    const steps: [string, () => Promise<void>][] = [
      [`baseline (bare JetStream pull consumer + 1 trivial Lua call per message)`, async () => void runsBase.push(await runBaseline(h, w))],
      [`bare loop with cumulative acks (info)`, async () => void runsBaseAll.push(await runBaseline(h, w, true))],
      [`(b) published directly to JetStream`, async () => void runsB.push(await runDirect(h, w))],
      [`(a) POST /v1/events (batches of ${BATCH}, ${HTTP_CONCURRENCY} concurrent requests)`, async () => void runsA.push(await runHttp(h, w))],
    ];
    if (i % 2 === 1) steps.reverse();
    for (const [what, run] of steps) {
      h.progress(`ingest round ${i + 1}/${rounds}: ${what}, ${WARMUP_EVENTS} warm-up + ${count} timed events`);
      await run();
    }
  }
  const rateA = medianOf(runsA.map((r) => r.rate));
  const rateB = medianOf(runsB.map((r) => r.rate));
  const rateBase = medianOf(runsBase.map((r) => r.rate));
  const rateBaseAll = medianOf(runsBaseAll.map((r) => r.rate));
  const acceptRate = medianOf(runsA.map((r) => r.acceptRate));
  const cpuUsedB = medianCpu(runsB);
  const cpuUsedC = medianCpu(runsBase);
  const cpuUsedA = medianCpu(runsA);
  const roundsData = runsBase.map((b, i) => ({
    baseline: b.rate,
    a: runsA[i]?.rate,
    b: runsB[i]?.rate,
    ratioA: ratio(runsA[i]?.rate ?? NaN, b.rate),
    ratioB: ratio(runsB[i]?.rate ?? NaN, b.rate),
    appliedA: runsA[i]?.appliedRate,
    appliedB: runsB[i]?.appliedRate,
    catchUpMsA: runsA[i]?.catchUpMs,
    catchUpMsB: runsB[i]?.catchUpMs,
  }));
  const posted = { accepted: runsA.reduce((a, r) => a + (r.accepted ?? 0), 0), failed: runsA.reduce((a, r) => a + (r.failed ?? 0), 0) };
  const statsA = { counters: runsA.at(-1)?.counters };
  const statsB = { counters: runsB.at(-1)?.counters };
  const tPublishedRate = medianOf(runsB.map((r) => r.publishOnlyRate));
  const catchUpMs = medianOf(runsB.map((r) => r.catchUpMs));
  const appliedRateA = medianOf(runsA.map((r) => r.appliedRate));
  const appliedRateB = medianOf(runsB.map((r) => r.appliedRate));
  const refreshesPer1k = medianOf(runsB.map((r) => ((r.timedRefreshes ?? NaN) * 1000) / count));
  const deltaShare = medianOf(runsB.map((r) => (r.timedDeltaReads ?? NaN) / ((r.timedDeltaReads ?? NaN) + (r.timedWholeReads ?? NaN))));

  const target = { op: '>=' as const, threshold: 0.6, label: '>= 60% of baseline' };
  const rA = pairedRatio(runsA.map((r) => r.rate), runsBase.map((r) => r.rate));
  const rB = pairedRatio(runsB.map((r) => r.rate), runsBase.map((r) => r.rate));
  const note = `${count} events, avg ${fmt(avgBytes, 'B', 0)}${rounds > 1 ? `, median of ${rounds} rounds` : ''}`;
  return [
    {
      group: '1 ingest',
      what: `(a) POST /v1/events x${BATCH} -> in the estimates (${note})`,
      result: fmt(rateA, 'ev/s'),
      baseline: fmt(rateBase, 'ev/s'),
      ratio: fmtPairedRatio(runsA.map((r) => r.rate), runsBase.map((r) => r.rate), target.threshold),
      target: target.label,
      verdict: judge(rA, target),
      data: { events: count, avgBytes, perSecond: rateA, appliedPerSecond: appliedRateA, acceptedPerSecond: acceptRate, accepted: posted.accepted, failed: posted.failed, baselinePerSecond: rateBase, ratio: rA, estimator: statsA.counters },
    },
    {
      group: '1 ingest',
      what: '    (a) applied only (every event acked after its Lua call, before the last refreshes)',
      result: `${fmt(appliedRateA, 'ev/s')}; ${fmt(medianOf(runsA.map((r) => r.eventsPerApplyCall)), '', 1)} events per apply-events call`,
      baseline: fmt(rateBase, 'ev/s'),
      ratio: fmtRatio(pairedRatio(runsA.map((r) => r.appliedRate ?? NaN), runsBase.map((r) => r.rate))),
      target: '-',
      verdict: 'info',
    },
    {
      group: '1 ingest',
      what: '    API accept rate alone (202s, before the estimator caught up)',
      result: fmt(acceptRate, 'ev/s'),
      baseline: fmt(rateBase, 'ev/s'),
      ratio: fmtRatio(ratio(acceptRate, rateBase)),
      target: '-',
      verdict: 'info',
    },
    {
      group: '1 ingest',
      what: `(b) JetStream publish -> in the estimates (${note})`,
      result: fmt(rateB, 'ev/s'),
      baseline: fmt(rateBase, 'ev/s'),
      ratio: fmtPairedRatio(runsB.map((r) => r.rate), runsBase.map((r) => r.rate), target.threshold),
      target: target.label,
      verdict: judge(rB, target),
      data: { events: count, perSecond: rateB, appliedPerSecond: appliedRateB, publishOnlyPerSecond: tPublishedRate, baselinePerSecond: rateBase, ratio: rB, estimator: statsB.counters, rounds: roundsData },
    },
    {
      group: '1 ingest',
      what: '    (b) applied only; the estimates caught up (every touched queue refreshed) this long after',
      result: `${fmt(appliedRateB, 'ev/s')}; ${fmt(medianOf(runsB.map((r) => r.eventsPerApplyCall)), '', 1)} events per apply-events call; caught up ${fmt(catchUpMs, 'ms', 0)} later, ${fmt(refreshesPer1k, '', 1)} refreshes per 1k events (${Number.isFinite(deltaShare) ? `${(deltaShare * 100).toFixed(0)} %` : '-'} delta window reads)`,
      baseline: fmt(rateBase, 'ev/s'),
      ratio: fmtRatio(pairedRatio(runsB.map((r) => r.appliedRate ?? NaN), runsBase.map((r) => r.rate))),
      target: '-',
      verdict: 'info',
      data: {
        catchUpMs: runsB.map((r) => r.catchUpMs),
        timedRefreshes: runsB.map((r) => r.timedRefreshes),
        timedWindowReads: runsB.map((r) => ({ delta: r.timedDeltaReads, whole: r.timedWholeReads })),
        note: 'a busy queue is refreshed at most once per second (urgent changes at once); while the consumer is >= 256 messages behind, refreshes wait for it (at most 5 s); once no event has been applied for 25 ms every waiting queue is refreshed',
      },
    },
    {
      group: '1 ingest',
      what: '    the bare loop acking cumulatively as the estimator does (AckPolicy.All); (a) / (b) of it',
      result: fmt(rateBaseAll, 'ev/s'),
      baseline: fmt(rateBase, 'ev/s'),
      ratio: `${fmtRatio(pairedRatio(runsA.map((r) => r.rate), runsBaseAll.map((r) => r.rate)))} / ${fmtRatio(pairedRatio(runsB.map((r) => r.rate), runsBaseAll.map((r) => r.rate)))}`,
      target: '-',
      verdict: 'info',
      data: {
        perSecond: rateBaseAll,
        rounds: runsBaseAll.map((r) => r.rate),
        cpu: medianCpu(runsBaseAll),
        note: 'the baseline of the targets acks each message (collected per event-loop turn), as a bare consumer does; since 2026-11-22 the estimator acks cumulatively (services/estimator/acks.ts): this line shows the bare loop with the same ack policy, so both comparisons are on the table',
      },
    },
    cpuRow('(a)', 'API', cpuUsedA, cpuUsedC),
    cpuRow('(b)', 'runner', cpuUsedB, cpuUsedC),
  ];
}
