/**
 * Row 5, replay: time to rebuild all state from the events stream on an empty store (the estimator's `rebuild`
 * path in a fresh child process: delete + re-create the durable consumer from the start of the stream, re-apply
 * every event, seed priors, refresh every queue, write the initialised marker), extrapolated per 1M events.
 * Baseline: the raw consumer (bench/services/baseline.ts) reading the same stream from its start with one
 * trivial Lua call per message. Uses the stream the growth row filled when it ran, else publishes its own.
 */
import { subjects } from '../../shared/events/subjects.ts';
import { desEvents, publishEvents } from '../lib/events.ts';
import { BENCH_PSEUDONYM_KEY, type Harness } from '../lib/harness.ts';
import { startChild, waitUntil } from '../lib/procs.ts';
import { fmt, fmtRatio, ratio, type ResultRow } from '../lib/stats.ts';

export async function replayRow(h: Harness): Promise<ResultRow[]> {
  let source = h.replaySource;
  if (!source || source.events === 0) {
    const prefix = h.newPrefix('replay');
    const n = h.opts.replayEvents;
    h.progress(`replay: publishing ${n} DES events to a fresh stream`);
    const events = desEvents({ catalogue: h.catalogue, queues: h.catalogue.queues(), count: n, endMs: Date.now() - 60_000, tag: 'rep' });
    await publishEvents(h.js, subjects(prefix), events, BENCH_PSEUDONYM_KEY);
    source = { prefix, events: events.length };
  }
  const { prefix, events } = source;
  const info = await h.jsm.streams.info(subjects(prefix).eventsStream);
  const inStream = info.state.messages;

  h.progress(`replay: rebuilding ${inStream} events from the stream into an empty Redis`);
  await h.deleteKeys(prefix);
  const t0 = performance.now();
  const est = await startChild('estimator', { env: h.env(prefix), args: ['--rebuild-only'], readyTimeoutMs: 3_600_000 });
  const wallMs = performance.now() - t0;
  const report = est.info.rebuild as { events: number; durationMs: number };
  await est.stop();

  h.progress(`replay baseline: raw consumer over the same ${inStream} messages`);
  const base = await startChild('baseline', { env: h.env(prefix), args: ['--source-stream', subjects(prefix).eventsStream] });
  const t1 = performance.now();
  await waitUntil(async () => ((await base.stats({ memory: false })).processed ?? 0) >= inStream, 'the baseline consumer to read the stream', 3_600_000, 25);
  const baseMs = performance.now() - t1;
  await base.stop();
  await h.cleanup(prefix);

  const perMillion = (report.durationMs / Math.max(1, report.events)) * 1e6;
  const basePerMillion = (baseMs / Math.max(1, inStream)) * 1e6;
  const rate = (report.events * 1000) / report.durationMs;
  const baseRate = (inStream * 1000) / baseMs;
  return [
    {
      group: '5 replay',
      what: `rebuild from stream, empty Redis (${report.events.toLocaleString('en-US')} events; time per 1M extrapolated)`,
      result: `${fmt(perMillion / 1000, 's')} per 1M (${fmt(rate, 'ev/s')})`,
      baseline: `${fmt(basePerMillion / 1000, 's')} per 1M (${fmt(baseRate, 'ev/s')})`,
      ratio: fmtRatio(ratio(rate, baseRate)),
      target: '-',
      verdict: 'info',
      data: { events: report.events, streamMessages: inStream, publishedByGrowth: events, rebuildMs: report.durationMs, processStartToReadyMs: wallMs, perMillionMs: perMillion, baselineMs: baseMs, baselinePerMillionMs: basePerMillion },
    },
  ];
}
