/**
 * services/start/healthcheck.ts, the container health checks of docker-compose.yml, against the shared test
 * NATS (isolated by a unique KEZEK_PREFIX): each check fails in the state it is meant to catch and passes once
 * the service does its job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ensureStreams } from '../../shared/nats.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { freePort } from '../../shared/local-servers.ts';
import { natsUrl, uniquePrefix } from '../helpers/env.ts';

const ROOT = join(import.meta.dirname, '../..');
const prefix = uniquePrefix();
const s = subjects(prefix);
let nc: NatsConnection;

/** Runs the check as docker would (asynchronously: the api check talks to a server in this process). */
function check(target: string, env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'services/start/healthcheck.ts', target],
      { cwd: ROOT, env: { PATH: process.env.PATH, NATS_URL: natsUrl(), KEZEK_PREFIX: prefix, ...env }, encoding: 'utf8', timeout: 20_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: `${stdout}${stderr}` }),
    );
  });
}

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStreams(nc, { prefix });
});

afterAll(async () => {
  await nc?.close();
});

describe('container health checks', () => {
  it('api: unhealthy while nothing answers /healthz, healthy when it answers 200', async () => {
    const port = await freePort();
    expect(await check('api', { PORT: String(port) })).toMatchObject({ code: 1 });
    const srv: Server = createServer((req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404);
      res.end();
    });
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    try {
      const res = await check('api', { PORT: String(port) });
      expect(res.out).toContain('healthy: api answers /healthz');
      expect(res.code).toBe(0);
    } finally {
      srv.close();
    }
  });

  it('estimator: unhealthy without its durable consumer or when nobody pulls, healthy while it is being pulled', async () => {
    const none = await check('estimator');
    expect(none.code).toBe(1);
    expect(none.out).toMatch(/unhealthy/);

    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(s.eventsStream, { durable_name: s.estimatorDurable, ack_policy: AckPolicy.Explicit });
    const idle = await check('estimator');
    expect(idle.code).toBe(1);
    expect(idle.out).toContain('nobody is pulling');

    // an estimator waiting for events keeps a pull request open
    const consumer = await jetstream(nc).consumers.get(s.eventsStream, s.estimatorDurable);
    const waiting = consumer.next({ expires: 15_000 });
    await new Promise((r) => setTimeout(r, 300));
    const busy = await check('estimator');
    expect(busy.out).toContain('healthy: estimator consumer active');
    expect(busy.code).toBe(0);
    await jetstream(nc).publish(s.eventsFor('korday', 'KZ-KG'), '{}');
    (await waiting)?.ack();
  });

  it('estimator, crossing mode: unhealthy with no partition consumer or one whose events nobody pulls, healthy otherwise', async () => {
    const p3 = uniquePrefix();
    const s3 = subjects(p3);
    const env = { KEZEK_PREFIX: p3, ESTIMATOR_PARTITIONING: 'crossing' };
    const jsm = await ensureStreams(nc, { prefix: p3 });
    const none = await check('estimator', env);
    expect(none.code).toBe(1);
    expect(none.out).toContain('no partition consumer');

    // two partitions taken, nothing waiting in either: idle is healthy
    for (const c of ['korday', 'dostyk']) {
      await jsm.consumers.add(s3.eventsStream, { durable_name: `${s3.estimatorDurable}-${c}`, ack_policy: AckPolicy.All, filter_subject: s3.eventsOfCrossing(c) });
    }
    const idle = await check('estimator', env);
    expect(idle.out).toMatch(/healthy: 2 of \d+ partition consumers exist/);
    expect(idle.code).toBe(0);

    // an event for korday and nobody pulling korday's consumer: unhealthy, naming it
    await jetstream(nc).publish(s3.eventsFor('korday', 'KZ-KG'), '{}');
    const stuck = await check('estimator', env);
    expect(stuck.code).toBe(1);
    expect(stuck.out).toContain(`nobody is pulling from ${s3.estimatorDurable}-korday (1 pending)`);

    // the unpartitioned check does not look at partitions
    expect((await check('estimator', { KEZEK_PREFIX: p3 })).code).toBe(1);
  });

  it('simulator: unhealthy while no event reaches the stream, healthy once events flow', async () => {
    const p2 = uniquePrefix();
    await ensureStreams(nc, { prefix: p2 });
    expect(await check('simulator', { KEZEK_PREFIX: p2 })).toMatchObject({ code: 1 });
    await jetstream(nc).publish(subjects(p2).eventsFor('korday', 'KZ-KG'), '{}');
    const res = await check('simulator', { KEZEK_PREFIX: p2 });
    expect(res.out).toContain('healthy: events flowing');
    expect(res.code).toBe(0);
  });

  it('an unknown target is a usage error', async () => {
    expect((await check('database')).code).toBe(2);
  });
});
