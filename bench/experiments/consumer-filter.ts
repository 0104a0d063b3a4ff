/**
 * Experiment behind services/estimator/consumer.ts's unfiltered single consumer: nats-server CPU per 1,000 messages
 * consumed by a durable pull consumer WITH a filter subject equal to the stream's subjects vs WITHOUT a filter, on
 * a throwaway nats-server (30k messages on 24 subjects, fetch 512, acks in groups of 64, 4 alternating rounds).
 * `node --import tsx bench/experiments/consumer-filter.ts`. On 2026-11-22 (nats-server 2.9.10): filtered 10-11,
 * unfiltered 7.5-8.5 ms per 1k messages, in 3 runs; later 7.3 vs 5.5.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../../shared/local-servers.ts';
import { connectNats } from '../../shared/nats.ts';
import { cpuMs } from '../lib/procs.ts';

const N = 30000;
const srv = await startNatsServer({ dataDir: mkdtempSync(join(tmpdir(), 'fb-')) });
const nc = await connectNats({ url: srv.url, name: 'fb' });
const jsm = await jetstreamManager(nc);
const js = jetstream(nc);
await jsm.streams.add({ name: 'FB', subjects: ['fb.>'] });
const payload = JSON.stringify({ x: 'y'.repeat(200) });
let inflight: Promise<unknown>[] = [];
for (let i = 0; i < N; i++) {
  inflight.push(js.publish(`fb.c${i % 12}.d${i % 2}`, payload));
  if (inflight.length >= 256) { await Promise.all(inflight); inflight = []; }
}
await Promise.all(inflight);
async function consume(name: string, filter: boolean): Promise<number> {
  await jsm.consumers.add('FB', { durable_name: name, ack_policy: AckPolicy.Explicit, max_ack_pending: 1024, ...(filter ? { filter_subject: 'fb.>' } : {}) });
  const c = await js.consumers.get('FB', name);
  const c0 = cpuMs(srv.pid);
  let got = 0;
  while (got < N) {
    const msgs = await c.fetch({ max_messages: 512, expires: 1000 });
    const batch = [];
    for await (const m of msgs) { batch.push(m); got++; if (batch.length >= 64) { for (const b of batch) b.ack(); batch.length = 0; } }
    for (const b of batch) b.ack();
  }
  await nc.flush();
  const used = cpuMs(srv.pid) - c0;
  await jsm.consumers.delete('FB', name);
  return (used * 1000) / N;
}
const res: Record<string, number[]> = { filtered: [], unfiltered: [] };
for (let r = 0; r < 4; r++) {
  for (const f of r % 2 ? [true, false] : [false, true]) res[f ? 'filtered' : 'unfiltered']!.push(await consume(`c${r}${String(f)}`, f));
}
console.log('nats-server CPU ms per 1k messages consumed', JSON.stringify(res));
await nc.drain();
await srv.stop();
