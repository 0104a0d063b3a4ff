/**
 * The real estimator process runs under the `estimator` user of infra/nats/accounts.conf (as in docker compose):
 * everything it does at boot and per event (streams, its durable consumer, fetch + ack, estimates, dead letters)
 * is within its permissions. Producers post as `producer`, the API side creates the streams as `api`, and a
 * `reader` sees the estimate the estimator publishes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { freePort, startNatsServer, startRedisServer, type LocalServer } from '../../shared/local-servers.ts';
import { ensureStreams, inboxPrefixFor } from '../../shared/nats.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { tempDir } from '../helpers/env.ts';
import { runStart, type StartProcess } from '../helpers/start-process.ts';

const ROOT = join(import.meta.dirname, '../..');
const CONF = join(ROOT, 'infra/nats/nats.conf');
const PASSWORDS = {
  NATS_PRODUCER_PASSWORD: 'svc-producer-1',
  NATS_API_PASSWORD: 'svc-api-1',
  NATS_READER_PASSWORD: 'svc-reader-1',
  NATS_ESTIMATOR_PASSWORD: 'svc-estimator-1',
  NATS_OPS_PASSWORD: 'svc-ops-1',
};
const s = subjects('kezek');

let dir: string;
let nats: LocalServer;
let redis: LocalServer;
let estimator: StartProcess | undefined;
const conns: NatsConnection[] = [];

async function as(user: string, pass: string): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, user, pass, inboxPrefix: inboxPrefixFor(user), maxReconnectAttempts: 0 });
  conns.push(nc);
  return nc;
}

beforeAll(async () => {
  Object.assign(process.env, PASSWORDS);
  dir = tempDir('kezek-nats-svc');
  const text = readFileSync(CONF, 'utf8')
    .replace(/store_dir: "[^"]*"/, `store_dir: "${join(dir, 'js')}"`)
    .replace(/^http: .*$/m, `http: 127.0.0.1:${await freePort()}`);
  writeFileSync(join(dir, 'nats.conf'), text);
  copyFileSync(join(dirname(CONF), 'accounts.conf'), join(dir, 'accounts.conf'));
  nats = await startNatsServer({ dataDir: dir, configOnly: true, extraArgs: ['-c', join(dir, 'nats.conf')] });
  redis = await startRedisServer({ dataDir: join(dir, 'redis') });
  // the API creates the streams at boot, with its own user
  await ensureStreams(await as('api', PASSWORDS.NATS_API_PASSWORD), { prefix: 'kezek' });
});

afterAll(async () => {
  if (estimator && estimator.proc.exitCode === null) {
    estimator.proc.kill('SIGTERM');
    await estimator.exited;
  }
  for (const nc of conns) await nc.close().catch(() => undefined);
  await redis?.stop();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('services under the production NATS permissions', () => {
  it('the estimator consumes a producer\'s event and publishes an estimate a reader receives, without permission errors', { timeout: 60_000 }, async () => {
    const reader = await as('reader', PASSWORDS.NATS_READER_PASSWORD);
    const sub = reader.subscribe(s.estimatesFor('korday', 'KZ-KG', 'car'), { max: 1 });
    await reader.flush();

    estimator = runStart({
      cwd: ROOT,
      script: 'services/estimator/main.ts',
      env: {
        PATH: process.env.PATH,
        NATS_URL: nats.url,
        NATS_USER: 'estimator',
        NATS_PASSWORD: PASSWORDS.NATS_ESTIMATOR_PASSWORD,
        REDIS_URL: redis.url,
        KEZEK_PREFIX: 'kezek',
        PSEUDONYM_KEY: 'a-test-pseudonym-key-0123',
        LOG_LEVEL: 'info',
      },
    });
    await estimator.waitFor((l) => l.service === 'estimator' && /consuming/.test(l.msg ?? ''), 45_000);

    const producer = jetstream(await as('producer', PASSWORDS.NATS_PRODUCER_PASSWORD));
    const at = new Date(Date.now() - 120_000).toISOString();
    const ev = { eventId: `svc-${Date.now()}`, type: 'queue.observed', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'car', occurredAt: at, queueLength: 7 };
    await producer.publish(s.eventsFor('korday', 'KZ-KG'), JSON.stringify(ev), { msgID: ev.eventId });

    const got = await Promise.race([
      (async () => {
        for await (const m of sub) return m.json<{ crossingId: string; direction: string; vehicleClass: string }>();
        return undefined;
      })(),
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 30_000)),
    ]);
    expect(got, `no estimate published; estimator output:\n${estimator.output().slice(-3000)}`).toMatchObject({
      crossingId: 'korday',
      direction: 'KZ-KG',
      vehicleClass: 'car',
    });
    // a permission violation reaches the client as an async error, logged by shared/nats.ts as "nats error"
    expect(estimator.output()).not.toMatch(/permission|"nats error"/i);

    estimator.proc.kill('SIGTERM');
    expect((await estimator.exited).code).toBe(0);
  });
});
