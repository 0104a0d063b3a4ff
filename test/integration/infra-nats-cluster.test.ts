/**
 * infra/nats/cluster/n1..n3.conf form a working JetStream cluster: the three real files run locally (host names,
 * ports and store dirs rewritten), the Kezek streams are created with three replicas, and publishing keeps
 * working with one node down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { freePort, startNatsServer, type LocalServer } from '../../shared/local-servers.ts';
import { ensureStreams } from '../../shared/nats.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { tempDir } from '../helpers/env.ts';

const INFRA = join(import.meta.dirname, '../../infra/nats');
const NODES = ['n1', 'n2', 'n3'] as const;
const OPS_PASSWORD = 'ops-cluster-secret';
const s = subjects('kezek');

let dir: string;
const servers: LocalServer[] = [];
let nc: NatsConnection;

beforeAll(async () => {
  Object.assign(process.env, {
    NATS_PRODUCER_PASSWORD: 'p',
    NATS_API_PASSWORD: 'a',
    NATS_READER_PASSWORD: 'r',
    NATS_ESTIMATOR_PASSWORD: 'e',
    NATS_OPS_PASSWORD: OPS_PASSWORD,
  });
  dir = tempDir('kezek-nats-cluster');
  mkdirSync(join(dir, 'cluster'));
  copyFileSync(join(INFRA, 'accounts.conf'), join(dir, 'accounts.conf'));
  const routePorts = await Promise.all(NODES.map(() => freePort()));
  const paths = await Promise.all(
    NODES.map(async (n, i) => {
      let text = readFileSync(join(INFRA, 'cluster', `${n}.conf`), 'utf8')
        .replace(/store_dir: "[^"]*"/, `store_dir: "${join(dir, n)}"`)
        .replace(/^http: .*$/m, `http: 127.0.0.1:${await freePort()}`)
        .replace(/listen: 0\.0\.0\.0:6222/, `listen: 127.0.0.1:${routePorts[i]}`);
      NODES.forEach((m, j) => (text = text.replace(`nats-route://${m}:6222`, `nats-route://127.0.0.1:${routePorts[j]}`)));
      const path = join(dir, 'cluster', `${n}.conf`);
      writeFileSync(path, text);
      return path;
    }),
  );
  for (const path of paths) servers.push(await startNatsServer({ dataDir: dir, configOnly: true, extraArgs: ['-c', path] }));
  nc = await connect({ servers: servers.map((x) => x.url), user: 'ops', pass: OPS_PASSWORD });
  // the JetStream meta leader is elected a moment after the routes connect
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await ensureStreams(nc, { prefix: 'kezek', replicas: 3 });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}, 60_000);

afterAll(async () => {
  await nc?.close();
  for (const srv of servers) await srv.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function retryUntil<T>(fn: () => Promise<T>, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

describe('infra/nats/cluster', () => {
  it('creates the Kezek streams with three replicas spread over n1, n2 and n3', async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(s.eventsStream);
    expect(info.config.num_replicas).toBe(3);
    const members = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)].sort();
    expect(members).toEqual(['n1', 'n2', 'n3']);
  });

  it('keeps accepting events with one node down, and stores each event id once', async () => {
    const js = jetstream(nc);
    const ev = (id: string) => JSON.stringify({ eventId: id });
    await js.publish(s.eventsFor('korday', 'KZ-KG'), ev('c-1'), { msgID: 'c-1' });
    await servers[0]!.stop();
    const ack = await js.publish(s.eventsFor('korday', 'KZ-KG'), ev('c-2'), { msgID: 'c-2', retries: 10, timeout: 5000 });
    expect(ack.stream).toBe(s.eventsStream);
    const dup = await js.publish(s.eventsFor('korday', 'KZ-KG'), ev('c-1'), { msgID: 'c-1', retries: 10, timeout: 5000 });
    expect(dup.duplicate).toBe(true);
    // the JetStream API (account info, stream info) answers once a new meta leader is elected, which can take a few
    // seconds more than the stream's own failover on a loaded machine: retry the read, not the assertion
    const info = await retryUntil(async () => (await jetstreamManager(nc, { timeout: 5000 })).streams.info(s.eventsStream), 30_000);
    expect(info.state.messages).toBe(2);
  }, 60_000);
});
