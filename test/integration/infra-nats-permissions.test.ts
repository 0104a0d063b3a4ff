/**
 * infra/nats/nats.conf enforces least privilege per role. A private nats-server runs the real config file (copied
 * with a temporary store_dir and free ports), and each role connects with its own user: allowed operations succeed,
 * forbidden ones are refused by the server and leave no trace in the streams.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { findBinary, freePort, startNatsServer, type LocalServer } from '../../shared/local-servers.ts';
import { ensureStreams, ensureStreamsIfAllowed, inboxPrefixFor, isJetStreamDisabled, jetStreamDisabled } from '../../shared/nats.ts';
import type { Logger } from '../../shared/logger.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { tempDir } from '../helpers/env.ts';

const CONF = join(import.meta.dirname, '../../infra/nats/nats.conf');
const s = subjects('kezek'); // the config is written for the default prefix; this server is private to the test
const PASSWORDS = {
  NATS_PRODUCER_PASSWORD: 'producer-secret-1',
  NATS_API_PASSWORD: 'api-secret-1',
  NATS_READER_PASSWORD: 'reader-secret-1',
  NATS_ESTIMATOR_PASSWORD: 'estimator-secret-1',
  NATS_OPS_PASSWORD: 'ops-secret-1',
};
type Role = 'producer' | 'api' | 'reader' | 'estimator' | 'ops';
const passwordOf = (role: Role) => PASSWORDS[`NATS_${role.toUpperCase()}_PASSWORD` as keyof typeof PASSWORDS];

/** The production config (and its included accounts.conf) with store_dir and the monitoring port rewritten. */
function testConfig(dir: string, httpPort: number): string {
  const text = readFileSync(CONF, 'utf8')
    .replace(/store_dir: "[^"]*"/, `store_dir: "${join(dir, 'js')}"`)
    .replace(/^http: .*$/m, `http: 127.0.0.1:${httpPort}`);
  const path = join(dir, 'nats.conf');
  writeFileSync(path, text);
  copyFileSync(join(dirname(CONF), 'accounts.conf'), join(dir, 'accounts.conf'));
  return path;
}

let server: LocalServer;
let dir: string;
let confPath: string;
const conns: NatsConnection[] = [];

async function as(role: Role): Promise<NatsConnection> {
  // each user's replies come on its own inbox prefix (accounts.conf), as Kezek's clients use it (shared/nats.ts)
  const nc = await connect({ servers: server.url, user: role, pass: passwordOf(role), inboxPrefix: inboxPrefixFor(role), maxReconnectAttempts: 0 });
  conns.push(nc);
  return nc;
}

async function streamCount(stream: string): Promise<number> {
  const jsm = await jetstreamManager(await as('ops'));
  return (await jsm.streams.info(stream)).state.messages;
}

const event = (id: string) =>
  JSON.stringify({ eventId: id, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car', occurredAt: '2026-11-22T08:00:00Z' });

beforeAll(async () => {
  Object.assign(process.env, PASSWORDS); // nats-server resolves $NATS_*_PASSWORD from its environment
  dir = tempDir('kezek-nats-perm');
  confPath = testConfig(dir, await freePort());
  server = await startNatsServer({ dataDir: dir, configOnly: true, extraArgs: ['-c', confPath] });
  // the estimator role can create the topology itself (every service runs ensureStreams at boot)
  await ensureStreams(await as('estimator'), { prefix: 'kezek' });
});

afterAll(async () => {
  for (const nc of conns) await nc.close().catch(() => undefined);
  await server?.stop();
});

describe('infra/nats/nats.conf permissions', () => {
  it('a producer publishes events with JetStream acks', async () => {
    const js = jetstream(await as('producer'));
    const ack = await js.publish(s.eventsFor('korday', 'KZ-KG'), event('perm-p1'), { msgID: 'perm-p1' });
    expect(ack.stream).toBe(s.eventsStream);
    expect(ack.duplicate).toBe(false);
  });

  it('a producer cannot publish estimates, and nothing reaches the estimates stream', async () => {
    const before = await streamCount(s.estimatesStream);
    const nc = await as('producer');
    await expect(jetstream(nc).publish(s.estimatesFor('korday', 'KZ-KG', 'car'), '{"forged":true}', { timeout: 2000 })).rejects.toThrow(
      /permission/i,
    );
    await expect(nc.request(s.estimatesFor('korday', 'KZ-KG', 'car'), '{}', { timeout: 2000 })).rejects.toThrow(/permission/i);
    expect(await streamCount(s.estimatesStream)).toBe(before);
  });

  it('the api user ingests events and reads estimates but cannot publish estimates', async () => {
    const nc = await as('api');
    const js = jetstream(nc);
    const ack = await js.publish(s.eventsFor('korday', 'KG-KZ'), event('perm-a1'), { msgID: 'perm-a1' });
    expect(ack.seq).toBeGreaterThan(0);
    await expect(js.publish(s.estimatesFor('korday', 'KZ-KG', 'car'), '{"forged":true}', { timeout: 2000 })).rejects.toThrow(/permission/i);

    // estimator publishes one estimate; the api reads it with an ordered consumer on the estimates stream
    const pub = await jetstream(await as('estimator')).publish(s.estimatesFor('korday', 'KZ-KG', 'truck'), '{"waitSeconds":60}');
    const consumer = await js.consumers.get(s.estimatesStream, { filter_subjects: s.estimatesFor('korday', 'KZ-KG', 'truck') });
    const msg = await consumer.next({ expires: 5000 });
    expect(msg?.seq).toBe(pub.seq);
    expect(msg?.json()).toEqual({ waitSeconds: 60 });
  });

  it('a reader receives estimates but cannot publish events, and nothing reaches the events stream', async () => {
    const nc = await as('reader');
    const sub = nc.subscribe(s.estimatesAll, { max: 1 });
    await nc.flush();
    await jetstream(await as('estimator')).publish(s.estimatesFor('korday', 'KG-KZ', 'car'), '{"waitSeconds":5}');
    for await (const m of sub) expect(m.json()).toEqual({ waitSeconds: 5 });
    expect(sub.getProcessed()).toBe(1);

    const before = await streamCount(s.eventsStream);
    await expect(jetstream(nc).publish(s.eventsFor('korday', 'KZ-KG'), event('perm-r1'), { msgID: 'perm-r1', timeout: 2000 })).rejects.toThrow(
      /permission/i,
    );
    expect(await streamCount(s.eventsStream)).toBe(before);
  });

  it('a reader cannot subscribe to raw events (they carry pseudonymised vehicle refs)', async () => {
    const nc = await as('reader');
    const sub = nc.subscribe(s.eventsAll);
    await nc.flush();
    const outcome = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still subscribed'), 3000))]);
    expect(outcome).toBeInstanceOf(Error);
    expect(String(outcome)).toMatch(/permission/i);
  });

  it("no user may read another user's replies: the shared _INBOX.> and other users' inbox prefixes are refused", async () => {
    const refused = async (role: Role, subject: string) => {
      const nc = await as(role);
      const sub = nc.subscribe(subject);
      await nc.flush();
      const outcome = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('still subscribed'), 3000))]);
      expect(String(outcome), `${role} on ${subject}`).toMatch(/permission/i);
    };
    await refused('reader', '_INBOX.>');
    await refused('reader', '_INBOX_api.>');
    await refused('producer', '_INBOX_estimator.>');
    await refused('api', '_INBOX_producer.*');
  });

  it('the estimator consumes events through its durable consumer and publishes estimates and dead letters', async () => {
    const nc = await as('estimator');
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(s.eventsStream, { durable_name: s.estimatorDurable, ack_policy: AckPolicy.Explicit, filter_subject: s.eventsAll });
    const js = jetstream(nc);
    const consumer = await js.consumers.get(s.eventsStream, s.estimatorDurable);
    const msg = await consumer.next({ expires: 5000 });
    expect(msg).not.toBeNull();
    expect(await msg!.ackAck()).toBe(true);

    const est = await js.publish(s.estimatesFor('korday', 'KZ-KG', 'car'), '{"waitSeconds":120}');
    const dlq = await js.publish(s.dlqFor('korday'), '{"reason":"invalid"}', { msgID: 'dlq-1' });
    expect(est.stream).toBe(s.estimatesStream);
    expect(dlq.stream).toBe(s.dlqStream);
  });

  it('the api user may read the estimator consumer\'s progress (for /readyz) but not delete it', async () => {
    const jsm = await jetstreamManager(await as('api'));
    const info = await jsm.consumers.info(s.eventsStream, s.estimatorDurable);
    expect(info.name).toBe(s.estimatorDurable);
    await expect(jsm.consumers.delete(s.eventsStream, s.estimatorDurable)).rejects.toThrow(/permission/i);
  });

  it("the api user may read a crossing partition's consumer progress too (ESTIMATOR_PARTITIONING=crossing)", async () => {
    const durable = `${s.estimatorDurable}-korday`;
    const est = await jetstreamManager(await as('estimator'));
    await est.consumers.add(s.eventsStream, { durable_name: durable, ack_policy: AckPolicy.All, filter_subject: s.eventsOfCrossing('korday') });
    const jsm = await jetstreamManager(await as('api'));
    const info = await jsm.consumers.info(s.eventsStream, durable);
    expect(info.name).toBe(durable);
    await expect(jsm.consumers.delete(s.eventsStream, durable)).rejects.toThrow(/permission/i);
  });

  it('the estimator cannot forge events', async () => {
    const before = await streamCount(s.eventsStream);
    await expect(
      jetstream(await as('estimator')).publish(s.eventsFor('korday', 'KZ-KG'), event('perm-e1'), { msgID: 'perm-e1', timeout: 2000 }),
    ).rejects.toThrow(/permission/i);
    expect(await streamCount(s.eventsStream)).toBe(before);
  });

  it('a permission refusal is not taken for JetStream being disabled: the producer keeps the "no permission?" path', async () => {
    // every role may ask $JS.API.INFO, so the services' startup check (jetStreamDisabled) passes for all of them
    for (const role of ['producer', 'api', 'reader', 'estimator', 'ops'] as const) expect(await jetStreamDisabled(await as(role)), role).toBe(false);
    const nc = await as('producer');
    const refused = await ensureStreams(nc, { prefix: 'kezek' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(refused)).toMatch(/permission|timeout/i);
    expect(isJetStreamDisabled(refused)).toBe(false);
    const warn = vi.fn();
    await ensureStreamsIfAllowed(nc, { prefix: 'kezek' }, { warn } as unknown as Logger);
    expect(warn).toHaveBeenCalledWith(expect.anything(), expect.stringContaining('no permission?'));
  });

  it('a wrong password is rejected', async () => {
    await expect(connect({ servers: server.url, user: 'producer', pass: 'not-the-password', maxReconnectAttempts: 0 })).rejects.toThrow(
      /authorization/i,
    );
  });

  it('nats-server refuses to start when a password variable is missing', () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NATS_OPS_PASSWORD;
    const res = spawnSync(findBinary('nats-server')!, ['-c', confPath, '-p', '-1', '-t'], { env, encoding: 'utf8', timeout: 10_000 });
    expect(res.status).not.toBe(0);
    expect(`${res.stdout}${res.stderr}`).toMatch(/NATS_OPS_PASSWORD/);
  });
});
