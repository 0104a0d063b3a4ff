/**
 * A NATS server without JetStream (a plain `nats-server`, no -js) is a configuration problem, not an outage: every
 * service that needs JetStream says so in one line naming NATS_URL and stops with exit 3 instead of buffering to
 * disk forever (simulator), for 60 s (replay) or dumping a stack (estimator, api). The detection
 * (shared/nats.ts isJetStreamDisabled / jetStreamDisabled) is precise: a JetStream server answers false, and a
 * permission refusal is not taken for it (test/integration/infra-nats-permissions.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type LocalServer } from '../../shared/local-servers.ts';
import { connectNats, ensureStreams, ensureStreamsIfAllowed, isJetStreamDisabled, jetStreamDisabled, JetStreamDisabledError } from '../../shared/nats.ts';
import { jetStreamDisabledProblem, jetStreamProblem } from '../../shared/cli.ts';
import type { Logger } from '../../shared/logger.ts';
import { natsUrl, redisUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { runCli } from '../helpers/cli.ts';

let plain: LocalServer;
let plainNc: NatsConnection;
let jsNc: NatsConnection;

beforeAll(async () => {
  plain = await startNatsServer({ dataDir: tempDir('kezek-plain-nats'), jetstream: false });
  plainNc = await connectNats({ url: plain.url, name: 'test-plain', maxReconnectAttempts: 0 });
  jsNc = await connectNats({ url: natsUrl(), name: 'test-js', maxReconnectAttempts: 0 });
});

afterAll(async () => {
  await plainNc?.close().catch(() => undefined);
  await jsNc?.close().catch(() => undefined);
  await plain?.stop();
});

const LINE = (url: string) => `NATS at ${url} (NATS_URL) has JetStream disabled: start nats-server with -js (JetStream)`;
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

describe('detecting a NATS without JetStream', () => {
  it('jetStreamDisabled / jetStreamProblem: true and the line on a plain server, false and undefined with JetStream', async () => {
    expect(await jetStreamDisabled(plainNc)).toBe(true);
    expect(await jetStreamProblem(plainNc, plain.url)).toBe(jetStreamDisabledProblem(plain.url));
    expect(jetStreamDisabledProblem(undefined)).toContain('(the default; set NATS_URL) has JetStream disabled');
    expect(await jetStreamDisabled(jsNc)).toBe(false);
    expect(await jetStreamProblem(jsNc, natsUrl())).toBeUndefined();
  });

  it("isJetStreamDisabled recognises the client's error of any JetStream call, and nothing else", async () => {
    const err = await ensureStreams(plainNc, { prefix: uniquePrefix() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isJetStreamDisabled(err)).toBe(true);
    expect(isJetStreamDisabled(new Error('timeout'))).toBe(false);
    expect(isJetStreamDisabled(Object.assign(new Error("Permissions Violation for Publish to '$JS.API.STREAM.CREATE.X'"), { name: 'PermissionViolationError' }))).toBe(false);
    expect(isJetStreamDisabled(undefined)).toBe(false);
  });

  it('ensureStreamsIfAllowed throws (no endless buffering) instead of warning "no permission?"', async () => {
    const warn = vi.fn();
    const logger = { warn } as unknown as Logger;
    const err = await ensureStreamsIfAllowed(plainNc, { prefix: uniquePrefix() }, logger).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(JetStreamDisabledError);
    expect((err as Error).message).toMatch(/^NATS at 127\.0\.0\.1:\d+ has JetStream disabled: start nats-server with -js/);
    expect(warn).not.toHaveBeenCalled();
  });
});

describe('services against a NATS without JetStream: one line naming NATS_URL, exit 3', () => {
  const env = () => ({ NATS_URL: plain.url, REDIS_URL: redisUrl(), KEZEK_PREFIX: uniquePrefix(), PSEUDONYM_KEY: 'jetstream-disabled-test-key-0123', PORT: '0', LOG_LEVEL: 'warn', DATA_DIR: tempDir('kezek-nojs-data') });

  for (const [name, script, args] of [
    ['api', 'services/api/main.ts', []],
    ['estimator', 'services/estimator/main.ts', []],
    ['estimator rebuild', 'services/estimator/main.ts', ['rebuild']],
    ['simulator', 'services/simulator/main.ts', ['--crossing', 'korday']],
  ] as const) {
    it(name, async () => {
      const r = await runCli(script, [...args], env(), { killAfterMs: 20_000 });
      expect(r.code, r.out.slice(-1500)).toBe(3);
      expect(r.stderr).toContain(LINE(plain.url));
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      noStack(r.out);
    });
  }

  it('replay fails fast naming -js instead of buffering for 60 s', async () => {
    const started = Date.now();
    const r = await runCli('services/replay/main.ts', ['seeds/sample-day.ndjson', '--shift-to', 'now-1d'], env(), { killAfterMs: 25_000 });
    expect(r.code, r.out.slice(-1500)).toBe(3);
    expect(r.stderr).toContain(LINE(plain.url));
    expect(r.stderr).toContain('nothing was published');
    noStack(r.out);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
