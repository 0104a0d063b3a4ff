/**
 * Redis Cluster readiness of the key layout (docs/scale-out.md):
 * - every key the queue store and the lease store build for one crossing hashes (CRC16 of the hash tag) to the
 *   crossing's slot;
 * - against a real redis-server in cluster mode (one node owning all 16384 slots, so a plain client needs no
 *   redirections but the server still refuses CROSSSLOT requests and scripts that touch keys of another slot),
 *   a single estimator in crossing mode applies events, statuses, reads windows, writes estimates and takes its
 *   leases without a single cross-slot error, every script call (watched with MONITOR) touches keys of one slot
 *   only, and the state equals the same run on the ordinary Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { loadCatalogue, type Catalogue } from '../../shared/catalogue/index.ts';
import { subjectForEvent, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { createLogger } from '../../shared/logger.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { pseudonymiseEvent } from '../../shared/privacy.ts';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { findBinary, freePort, isPortOpen } from '../../shared/local-servers.ts';
import { createKeys } from '../../shared/queue-store/keys.ts';
import { leaseKeys } from '../../shared/leases/keys.ts';
import { apiKeys, createApiStore } from '../../shared/api-store/store.ts';
import { createQueueStore, MAX_APPLY_BATCH } from '../../shared/queue-store/store.ts';
import { createEstimator } from '../../services/estimator/estimator.ts';
import { durableName } from '../../services/estimator/consumer.ts';
import { desEvents } from '../../bench/lib/events.ts';
import { natsUrl, redisUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { MODEL_LOOKBACK_MS } from '../../shared/estimation/model.ts';

const KEY = 'slots-pseudonym-key-0123456789';
const logger = createLogger({ service: 'slots-test', level: 'silent', pretty: false });

/** CRC16/XMODEM, the Redis Cluster key hash. */
function crc16(buf: Buffer): number {
  let crc = 0;
  for (const byte of buf) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a key: CRC16 of the first non-empty `{...}` hash tag, else of the whole key, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(Buffer.from(key.slice(open + 1, close))) % 16384;
  }
  return crc16(Buffer.from(key)) % 16384;
}

let catalogue: Catalogue;
let clusterProc: ChildProcess;
let redis: Redis;
let nc: NatsConnection;

beforeAll(async () => {
  catalogue = loadCatalogue();
  const dir = tempDir('kezek-redis-cluster');
  const port = await freePort();
  // shared/local-servers.ts has no cluster mode; the same flags plus --cluster-enabled
  clusterProc = spawn(findBinary('redis-server')!, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 200 && !(await isPortOpen(port)); i++) await new Promise((r) => setTimeout(r, 50));
  redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 2 });
  await redis.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  for (let i = 0; i < 100; i++) {
    if (String(await redis.call('CLUSTER', 'INFO')).includes('cluster_state:ok')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  nc = await connect({ servers: natsUrl() });
}, 30_000);

afterAll(async () => {
  await nc?.drain().catch(() => undefined);
  await redis?.quit().catch(() => undefined);
  if (clusterProc && clusterProc.exitCode === null) {
    clusterProc.kill('SIGTERM');
    await new Promise((r) => clusterProc.once('exit', r));
  }
});

describe('Redis Cluster: key slots', () => {
  it('every queue-store and lease key of one crossing hashes to the slot of the crossing id', () => {
    const keys = createKeys('kezek');
    const lk = leaseKeys('kezek');
    for (const q of catalogue.queues()) {
      const slot = keySlot(q.crossingId);
      const c = keys.crossing(q.crossingId);
      const qk = keys.queue(q);
      const all = [c.ids, c.cmeta, c.stfold, c.status(undefined, undefined), c.status(q.direction, q.vehicleClass), ...keys.statusKeysFor(q), qk.meta, ...Object.values(qk.records), qk.vix, qk.hist, qk.hidx, qk.hest, qk.est, lk.owner(q.crossingId), lk.ready(q.crossingId), lk.replaying(q.crossingId)];
      for (const k of all) expect(keySlot(k), k).toBe(slot);
    }
    // sanity of the slot function against Redis' reference values
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('keySlot agrees with the server (CLUSTER KEYSLOT) on every key kind', async () => {
    const keys = createKeys('kezek');
    const q = catalogue.queues()[0]!;
    const sample = [keys.queue(q).meta, keys.crossing(q.crossingId).ids, leaseKeys('kezek').owner(q.crossingId), keys.initialised, keys.queueIndex, apiKeys('kezek').subscriptionIndex()];
    for (const k of sample) expect(keySlot(k), k).toBe(Number(await redis.call('CLUSTER', 'KEYSLOT', k)));
  });

  it('an estimator in crossing mode runs on a cluster-mode Redis without cross-slot errors and builds the same state as on plain Redis', async () => {
    const queues = catalogue.queues().filter((q) => q.crossingId === 'korday' || q.crossingId === 'karasu');
    const events = desEvents({ catalogue, queues, count: 1500, endMs: Date.now() - 120_000, tag: `slots-${uniquePrefix()}` }).slice(0, 600);
    expect(events.some((e) => e.type === 'crossing.status') || events.some((e) => e.type === 'lanes.changed')).toBe(true);
    const runs: { prefix: string; redis: Redis }[] = [];
    const plain = new Redis(redisUrl(), { maxRetriesPerRequest: 2 });
    try {
      for (const r of [redis, plain]) {
        const prefix = uniquePrefix();
        await ensureStreams(nc, { prefix });
        const js = jetstream(nc);
        for (const ev of events) {
          const clean = pseudonymiseEvent(ev as KezekEvent & { vehicleRef?: string }, KEY);
          await js.publish(subjectForEvent(subjects(prefix), clean), JSON.stringify(clean), { msgID: clean.eventId });
        }
        // Redis (7.0) does not refuse a script that touches an undeclared key of another slot when this node owns
        // both slots, so watch what each script really touches: MONITOR lists a script's commands right after
        // the EVALSHA (scripts are atomic, nothing interleaves). Every argument under the prefix is a key.
        const monitor = r === redis ? await redis.monitor() : undefined;
        const blocks: Set<number>[] = [];
        let block: Set<number> | undefined;
        monitor?.on('monitor', (_time: string, args: string[], source: string) => {
          const cmd = String(args[0]).toLowerCase();
          if (source === 'lua') {
            for (const a of args.slice(1)) if (a.startsWith(`${prefix}:`)) block?.add(keySlot(a));
          } else {
            block = cmd === 'evalsha' || cmd === 'eval' ? new Set() : undefined;
            if (block) blocks.push(block);
          }
        });
        const est = createEstimator({ nc, redis: r, catalogue, prefix, logger, pseudonymKey: KEY, partitioning: 'crossing', leaseMs: 2000 });
        try {
          await est.start();
          // a lone instance owns every crossing
          expect(est.partitions()).toEqual([...new Set(catalogue.queues().map((x) => x.crossingId))].sort());
          const jsm = await jetstreamManager(nc);
          const deadline = Date.now() + 30_000;
          for (;;) {
            const infos = await Promise.all(['korday', 'karasu'].map((c) => jsm.consumers.info(subjects(prefix).eventsStream, durableName(prefix, c)).catch(() => undefined)));
            const done = infos.every((i) => i && i.num_pending === 0 && i.num_ack_pending === 0) && (await r.exists(`${prefix}:v1:initialised`)) === 1;
            if (done) break;
            if (Date.now() > deadline) throw new Error('estimator did not apply the events in time');
            await new Promise((res) => setTimeout(res, 200));
          }
          const st = est.stats();
          expect(st.applied).toBe(events.length);
          expect(st.deadLettered + st.retried).toBe(0);
        } finally {
          await est.stop();
          monitor?.disconnect();
        }
        if (monitor) {
          // not vacuous: the monitor saw the scripts (a crossing's events share one call, at most MAX_APPLY_BATCH each)
          expect(blocks.filter((x) => x.size > 0).length).toBeGreaterThanOrEqual(Math.ceil(events.length / MAX_APPLY_BATCH));
          const crossSlot = blocks.filter((x) => x.size > 1);
          expect(crossSlot.length, 'scripts that touched keys of several slots').toBe(0);
        }
        runs.push({ prefix, redis: r });
      }
      const [onCluster, onPlain] = runs.map((x) => createQueueStore({ redis: x.redis, prefix: x.prefix }));
      for (const q of queues) {
        const last = await onPlain!.lastEventMs(q);
        if (last === null) continue;
        expect(await onCluster!.lastEventMs(q)).toBe(last);
        expect(await onCluster!.readWindow(q, last, MODEL_LOOKBACK_MS)).toEqual(await onPlain!.readWindow(q, last, MODEL_LOOKBACK_MS));
        expect((await onCluster!.readEstimate(q))?.waitSeconds).toEqual((await onPlain!.readEstimate(q))?.waitSeconds);
      }
    } finally {
      await plain.quit();
    }
  }, 60_000);

  // Known defect (reported to the API owner): the webhook subscription indexes have no hash tag, so
  // addSubscription-3 / removeSubscription-4 touch keys of three slots and Redis Cluster refuses them (CROSSSLOT).
  // Remove `.fails` once apiKeys puts a subscription's keys under one tag.
  it('api-store: subscription scripts touch keys of one slot only', async () => {
    const store = createApiStore({ redis, prefix: uniquePrefix() });
    await store.addSubscription({ id: 'sub-1', owner: 'o', url: 'https://example.org/hook', crossingId: 'korday', direction: null, vehicleClass: null, waitAboveSeconds: 600, onClosure: true, secret: 's'.repeat(32), createdAt: new Date().toISOString() });
  });

  it('api-store: rate limits and delivery claims are single-key, so they work on Redis Cluster', async () => {
    const store = createApiStore({ redis, prefix: uniquePrefix() });
    const hit = await store.rateLimitHit('read', 'client-1', 10, 60_000);
    expect(hit).toBeDefined();
    expect(await store.claimDelivery('d-1', 5000)).toBe(true);
    expect(await store.claimDelivery('d-1', 5000)).toBe(false);
  });
});
