/**
 * Acceptance test of the scale-out (docs/scale-out.md): a three-node JetStream cluster (streams with three
 * replicas), one redis-server, and two estimator instances as child processes (`services/estimator/main.ts`,
 * ESTIMATOR_PARTITIONING=crossing) sharing the crossings through Redis leases. While a few thousand simulated
 * events stream in, one NATS node and then one estimator are SIGKILLed. When everything has been applied, the
 * state in Redis equals the state a single estimator builds from the same event log on a fresh prefix: nothing
 * lost, nothing counted twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import { subjectForEvent, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { freePort, startNatsServer, type LocalServer } from '../../shared/local-servers.ts';
import { dumpKeys, type DumpValue } from '../../shared/queue-store/dump.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { createLeaseStore } from '../../shared/leases/store.ts';
import { MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { durableName } from '../../services/estimator/consumer.ts';
import { desEvents } from '../../bench/lib/events.ts';
import { natsUrl, redisUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { until as pollUntil } from '../helpers/until.ts';

const KEY = 'scaleout-pseudonym-key-0123456789';
const ROOT = join(import.meta.dirname, '../..');
const EVENTS = 3000;
const LEASE_MS = 3000;
const logger = createLogger({ service: 'scaleout-test', level: 'silent', pretty: false });

let catalogue: Catalogue;
let dir: string;
const nodes: LocalServer[] = [];
let clusterUrl: string;
let nc: NatsConnection;
let jsm: JetStreamManager;
let js: JetStreamClient;
let redis: Redis;
const children: { proc: ChildProcess; output: string[] }[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The shared poll, every 200 ms (each try asks a three-node cluster). */
const until = <T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs: number): Promise<T> => pollUntil(what, fn, timeoutMs, 200);

function startEstimator(prefix: string, name: string) {
  const output: string[] = [];
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'services/estimator/main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      NATS_URL: clusterUrl,
      NATS_REPLICAS: '3',
      REDIS_URL: redisUrl(),
      KEZEK_PREFIX: prefix,
      PSEUDONYM_KEY: KEY,
      ESTIMATOR_PARTITIONING: 'crossing',
      ESTIMATOR_LEASE_MS: String(LEASE_MS),
      ESTIMATOR_ACK_WAIT_MS: '2000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (b: Buffer) => {
    output.push(`[${name}] ${b.toString()}`);
    if (output.length > 400) output.shift();
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const child = { proc, output };
  children.push(child);
  return child;
}

/** Publishes with msgID = eventId (refs pseudonymised like a producer), retrying through a NATS node failure. */
async function publish(jsc: JetStreamClient, prefix: string, events: readonly KezekEvent[]): Promise<void> {
  const s = subjects(prefix);
  const inflight = new Set<Promise<void>>();
  for (const ev of events) {
    const clean = pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, KEY);
    const send = async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          await jsc.publish(subjectForEvent(s, clean), JSON.stringify(clean), { msgID: clean.eventId, timeout: 5000 });
          return;
        } catch (err) {
          // a stream leader election after a node loss takes a few seconds (no responders / timeouts meanwhile)
          if (attempt >= 60) throw err;
          await sleep(500);
        }
      }
    };
    const p: Promise<void> = send().finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 200) await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

/** Every consumer of the prefix has nothing pending and nothing unacked. */
async function drained(m: JetStreamManager, prefix: string, durables: string[]): Promise<boolean> {
  for (const d of durables) {
    const info = await m.consumers.info(subjects(prefix).eventsStream, d);
    if (info.num_pending !== 0 || info.num_ack_pending !== 0) return false;
  }
  return true;
}

/** The queue store's state of one crossing with the prefix removed; estimates excluded (their publication timing differs). */
async function crossingState(prefix: string, crossingId: string): Promise<Record<string, DumpValue>> {
  const root = `${prefix}:v1:{${crossingId}}`;
  const raw = await dumpKeys(redis, root, { exclude: /:(est|hest)$/ });
  const out: Record<string, DumpValue> = {};
  for (const [k, v] of Object.entries(raw)) {
    const name = k.slice(prefix.length);
    // history buckets: drop the `<bucket>:e` published-estimate summaries, keep the per-event counters
    out[name] = name.endsWith(':hist') && !Array.isArray(v) && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([f]) => !f.endsWith(':e'))) : v;
  }
  return out;
}

beforeAll(async () => {
  catalogue = loadCatalogue();
  dir = tempDir('kezek-scaleout');
  const clientPorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const routePorts = await Promise.all([0, 1, 2].map(() => freePort()));
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
  for (let i = 0; i < 3; i++) {
    const dataDir = join(dir, `n${i + 1}`);
    mkdirSync(dataDir, { recursive: true });
    nodes.push(
      await startNatsServer({
        dataDir,
        port: clientPorts[i],
        extraArgs: ['--server_name', `n${i + 1}`, '--cluster_name', 'kezek', '--cluster', `nats://127.0.0.1:${routePorts[i]}`, '--routes', routes],
      }),
    );
  }
  clusterUrl = nodes.map((n) => n.url).join(',');
  nc = await connect({ servers: nodes.map((n) => n.url) });
  js = jetstream(nc);
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
}, 60_000);

afterAll(async () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  await nc?.close().catch(() => undefined);
  await redis?.quit().catch(() => undefined);
  for (const n of nodes) await n.stop('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('scale-out: three NATS nodes, two estimators partitioned by crossing', () => {
  it('when a NATS node and an estimator are killed mid-stream, the final state equals a single estimator run over the same events', async () => {
    const prefix = uniquePrefix();
    const s = subjects(prefix);
    // the JetStream meta leader is elected a moment after the routes connect
    jsm = await until('the cluster to accept stream creation', async () => ensureStreams(nc, { prefix, replicas: 3 }), 20_000);
    expect((await jsm.streams.info(s.eventsStream)).config.num_replicas).toBe(3);

    // 12 truck queues of 6 crossings
    const queues = catalogue.queues().filter((q) => q.vehicleClass === 'truck' && ['korday', 'karasu', 'kegen', 'dostyk', 'bakhty', 'kolzhat'].includes(q.crossingId));
    // the DES span is sized from average rates; ask for more and keep the first EVENTS (event-time order)
    const events = desEvents({ catalogue, queues, count: 2 * EVENTS, endMs: Date.now() - 120_000, tag: `so-${prefix}` }).slice(0, EVENTS);
    expect(events.length).toBe(EVENTS);
    const touched = [...new Set(events.map((e) => e.crossingId))].sort();
    expect(touched.length).toBeGreaterThanOrEqual(4);

    // two instances; with 12 crossings each settles on its fair share of 6
    const a = startEstimator(prefix, 'A');
    const b = startEstimator(prefix, 'B');
    const leases = createLeaseStore(redis, prefix);
    const crossings = [...new Set(catalogue.queues().map((q) => q.crossingId))].sort();
    const owners = async () => Promise.all(crossings.map((c) => leases.owner(c)));
    const balanced = await until(
      'both instances to hold a fair share of the crossings',
      async () => {
        const o = await owners();
        const counts = new Map<string, number>();
        for (const x of o) if (x) counts.set(x, (counts.get(x) ?? 0) + 1);
        return o.every(Boolean) && counts.size === 2 && [...counts.values()].every((n) => n === crossings.length / 2) ? counts : undefined;
      },
      30_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${[...a.output, ...b.output].join('')}`);
    });
    expect([...balanced.values()]).toEqual([6, 6]);

    // stream: 40 %, kill a NATS node, 30 %, SIGKILL one estimator while it has work in flight, the rest
    await publish(js, prefix, events.slice(0, 1200));
    await nodes[0]!.stop('SIGKILL');
    await publish(js, prefix, events.slice(1200, 2100));
    // the victim is the instance holding more of the crossings that have traffic, and it has applied some of them
    // a lease can be between holders for a moment while a NATS node is down: wait until every crossing has one
    const ownerList = await until('every crossing to have a lease holder', async () => {
      const o = await owners();
      return o.every((x) => x) ? (o as string[]) : undefined;
    }, 20_000);
    const byOwner = new Map<string, string[]>();
    crossings.forEach((c, i) => {
      if (touched.includes(c)) byOwner.set(ownerList[i]!, [...(byOwner.get(ownerList[i]!) ?? []), c]);
    });
    const [victimId, victimCrossings] = [...byOwner.entries()].sort((x, y) => y[1].length - x[1].length)[0]!;
    expect(victimCrossings.length).toBeGreaterThanOrEqual(3);
    await until('the victim to have applied events of its crossings', async () => (await redis.zcard(`${prefix}:v1:{${victimCrossings[0]}}:ids`)) > 0, 20_000);
    const victim = victimId.split('-').at(-2) === String(a.proc.pid) ? a : b;
    const survivor = victim === a ? b : a;
    // kill it while it holds unacked events: they must be redelivered to the survivor
    const rest = publish(js, prefix, events.slice(2100));
    const victimDurables = victimCrossings.map((c) => durableName(prefix, c));
    let caughtInFlight = false;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline && !caughtInFlight; ) {
      for (const d of victimDurables) {
        const info = await jsm.consumers.info(s.eventsStream, d).catch(() => undefined); // a leader election may be under way
        if ((info?.num_ack_pending ?? 0) > 0) caughtInFlight = true;
      }
    }
    const exited = new Promise((r) => victim.proc.once('exit', r));
    victim.proc.kill('SIGKILL');
    await exited;
    // what the dead victim left unacked (its last cumulative ack may have landed between the check above and the
    // kill), and when each of its consumers was created: the survivor re-creates one with unacked deliveries
    const leftUnacked = new Map<string, string>();
    for (const d of victimDurables) {
      const info = await until(`${d} info`, async () => jsm.consumers.info(s.eventsStream, d).catch(() => undefined), 10_000);
      if (info.num_ack_pending > 0) leftUnacked.set(d, info.created);
    }
    await rest;
    expect((await jsm.streams.info(s.eventsStream)).state.messages).toBe(EVENTS);

    // the survivor takes B's crossings when its leases expire, and gets B's unacked events redelivered
    const durables = crossings.map((c) => durableName(prefix, c));
    await until(
      'the survivor to own every crossing and every consumer to be drained',
      async () => {
        const o = await owners();
        return o.every((x) => x !== null && x === o[0]) && (await redis.exists(`${prefix}:v1:initialised`)) === 1 && (await drained(jsm, prefix, durables));
      },
      45_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${survivor.output.join('')}`);
    });
    expect((await jsm.streams.info(s.dlqStream)).state.messages).toBe(0);
    // the victim's unacked deliveries came again: the survivor re-created such a consumer at its ack floor
    // (services/estimator/consumer.ts ensureConsumer), which delivers everything after the last cumulative ack
    const recreated = await Promise.all([...leftUnacked].map(async ([d, created]) => (await jsm.consumers.info(s.eventsStream, d)).created !== created));
    if (process.env.SCALEOUT_DEBUG) console.info({ victimCrossings, caughtInFlight, leftUnacked: [...leftUnacked.keys()], recreated });
    expect(recreated.every(Boolean)).toBe(true);

    // reference: one estimator (single consumer) over the same events, fresh prefix, on the run's shared servers
    const ref = uniquePrefix();
    const rnc = await connect({ servers: natsUrl() });
    const rredis = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
    const est = createEstimator({ nc: rnc, redis: rredis, catalogue, prefix: ref, logger, pseudonymKey: KEY });
    try {
      await ensureStreams(rnc, { prefix: ref });
      await publish(jetstream(rnc), ref, events);
      await est.start();
      const rjsm = await jetstreamManager(rnc);
      await until('the reference estimator to apply every event', () => drained(rjsm, ref, [subjects(ref).estimatorDurable]), 30_000);
      await est.stop();

      const clusterStore = createQueueStore({ redis, prefix });
      const refStore = createQueueStore({ redis, prefix: ref });
      for (const c of touched) {
        const got = await crossingState(prefix, c);
        expect(Object.keys(got).length).toBeGreaterThan(5);
        expect(got, `state of crossing ${c}`).toEqual(await crossingState(ref, c));
      }
      for (const q of queues) {
        const last = await refStore.lastEventMs(q);
        expect(last, `${q.crossingId}/${q.direction}/${q.vehicleClass} has events`).not.toBeNull();
        expect(await clusterStore.lastEventMs(q)).toBe(last);
        expect(await clusterStore.readWindow(q, last!, MODEL_LOOKBACK_MS)).toEqual(await refStore.readWindow(q, last!, MODEL_LOOKBACK_MS));
        // the published estimate is never ahead of the data and exists for every queue with events
        const e = await clusterStore.readEstimate(q);
        expect(e).not.toBeNull();
        expect(Date.parse(e!.asOf)).toBeLessThanOrEqual(last!);
      }
    } finally {
      await est.stop();
      await rnc.drain().catch(() => undefined);
      await rredis.quit().catch(() => undefined);
    }

    // the survivor shuts down in order and hands its leases back
    survivor.proc.kill('SIGTERM');
    await new Promise((r) => survivor.proc.once('exit', r));
    expect(survivor.proc.exitCode).toBe(0);
    expect((await owners()).every((x) => x === null)).toBe(true);
  }, 150_000);
});
