/**
 * services/estimator/main.ts as an operator runs it (`npm run rebuild`, the service itself), against the shared test
 * NATS and Redis (a unique KEZEK_PREFIX): usage, unreachable servers named by their variable, a rebuild refused
 * beside a consuming estimator, and the exit codes its USAGE documents.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { ensureStreams } from '../../shared/nats.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';
import { runCli } from '../helpers/cli.ts';

const prefix = uniquePrefix();
const s = subjects(prefix);
let nc: NatsConnection;

/** The CLI with the shared test servers; with `signalAfter`, it is sent that signal once its output matches `text`. */
const estimatorCli = (args: string[], env: Record<string, string> = {}, signalAfter?: { text: RegExp; signal: NodeJS.Signals }) =>
  runCli('services/estimator/main.ts', args, { NATS_URL: natsUrl(), REDIS_URL: redisUrl(), KEZEK_PREFIX: prefix, PSEUDONYM_KEY: 'estimator-cli-test-key-0123', LOG_LEVEL: 'info', ...env }, { killAfterMs: 60_000, signalAfter });

beforeAll(async () => {
  nc = await connect({ servers: natsUrl() });
  await ensureStreams(nc, { prefix });
  const js = jetstream(nc);
  const at = new Date(Date.now() - 60_000).toISOString();
  for (let i = 0; i < 20; i++) {
    await js.publish(s.eventsFor('korday', 'KZ-KG'), JSON.stringify({ eventId: `cli-${i}`, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: at }), { msgID: `cli-${i}` });
  }
});

afterAll(async () => {
  await nc?.close();
});

describe('estimator CLI', () => {
  it('--help prints the usage with the exit codes; an unknown argument is a usage error (2), not ignored', async () => {
    const help = await estimatorCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Usage: .*rebuild \[--force\]/);
    expect(help.out).toMatch(/Exit codes: 0 .*\n.*4 rebuild refused/);
    const bad = await estimatorCli(['rebuild', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('unknown argument(s): --dry-run');
  });

  it('an unreachable NATS or Redis is one line naming the variable, exit 3', async () => {
    const nats = await estimatorCli([], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(nats.code).toBe(3);
    expect(nats.out).toContain('cannot reach NATS at nats://127.0.0.1:1 (NATS_URL)');
    expect(nats.out).not.toMatch(/\n\s+at /); // no stack trace
    const redis = await estimatorCli([], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(redis.code).toBe(3);
    expect(redis.out).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(REDIS_URL\): .*ECONNREFUSED/);
    expect(redis.out).not.toMatch(/redis error/); // the connection's retries are not logged before the one line
  });

  it('a rebuild interrupted while it connects says nothing was changed and exits 130 (it was silent)', async () => {
    // a "NATS" that accepts the connection and never says hello: the CLI is stuck connecting when the signal comes
    const sockets: Socket[] = [];
    const silent = createServer((sock) => sockets.push(sock));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const connected = once(silent, 'connection');
    try {
      const run = await runCli('services/estimator/main.ts', ['rebuild'], { NATS_URL: `nats://127.0.0.1:${(silent.address() as AddressInfo).port}`, REDIS_URL: redisUrl(), KEZEK_PREFIX: prefix, PSEUDONYM_KEY: 'estimator-cli-test-key-0123' }, { killAfterMs: 30_000, signalWhen: { event: connected, signal: 'SIGINT' } });
      expect(run.code).toBe(130);
      expect(run.stderr).toContain('rebuild interrupted before it started: nothing was changed');
    } finally {
      for (const sock of sockets) sock.destroy();
      silent.close();
    }
  });

  it('refuses a rebuild (4) while an estimator pulls from the durable, runs it when nobody does', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(s.eventsStream, { durable_name: s.estimatorDurable, ack_policy: AckPolicy.All, filter_subject: s.eventsAll, deliver_policy: DeliverPolicy.New });
    // a "running estimator": a pull request kept open on the durable, sent raw (the client's own pull would reject
    // unhandled with "consumer deleted" when the forced rebuild below deletes the consumer)
    const inbox = createInbox();
    const replies = nc.subscribe(inbox);
    nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${s.eventsStream}.${s.estimatorDurable}`, JSON.stringify({ batch: 1, expires: 10_000_000_000 }), { reply: inbox });
    await new Promise((r) => setTimeout(r, 300));
    expect((await jsm.consumers.info(s.eventsStream, s.estimatorDurable)).num_waiting).toBe(1);
    const refused = await estimatorCli(['rebuild']);
    expect(refused.code).toBe(4);
    expect(refused.out).toContain(`rebuild refused: an estimator is consuming ${s.estimatorDurable}`);

    const done = await estimatorCli(['rebuild', '--force']);
    expect(done.code, done.out).toBe(0);
    expect(done.out).toMatch(/rebuild finished/);
    expect(done.out).toMatch(/"events":20|events: 20/);
    replies.unsubscribe();
  });

  it('a rebuild interrupted by Ctrl-C exits 130 and says to run it again', { timeout: 60_000 }, async () => {
    // enough events that the rebuild is still running when the signal lands
    const p2 = uniquePrefix();
    const s2 = subjects(p2);
    await ensureStreams(nc, { prefix: p2 });
    const js = jetstream(nc);
    const at = new Date(Date.now() - 60_000).toISOString();
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < 6000; i++) {
      acks.push(js.publish(s2.eventsFor('korday', 'KZ-KG'), JSON.stringify({ eventId: `big-${i}`, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: at }), { msgID: `big-${i}` }));
      if (acks.length >= 500) await Promise.all(acks.splice(0));
    }
    await Promise.all(acks);
    const run = await estimatorCli(['rebuild'], { KEZEK_PREFIX: p2 }, { text: /rebuilding the queue store/, signal: 'SIGINT' });
    expect(run.code, run.out.slice(-500)).toBe(130);
    expect(run.out).toContain('rebuild interrupted: the store is partly rebuilt; run the rebuild again');
    expect(run.out).not.toMatch(/rebuild done/);
  });
});
