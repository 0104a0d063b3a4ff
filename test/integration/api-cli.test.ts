/**
 * services/api/main.ts as an operator runs it alone (`npx tsx services/api/main.ts`), against the shared test NATS
 * and Redis (a unique KEZEK_PREFIX): --help and usage errors instead of a server started with arguments ignored, no
 * start without PSEUDONYM_KEY (exit 2) but a normal start and stop with it, unreachable servers as the shared
 * one-line messages (exit 3). The exit codes are the ones its USAGE documents.
 */
import { describe, expect, it } from 'vitest';
import { natsUrl, redisUrl, uniquePrefix } from '../helpers/env.ts';
import { runCli } from '../helpers/cli.ts';
import { createHarness } from '../helpers/api-fixtures.ts';

const KEY = 'api-cli-test-pseudonym-key-0123';

/** The API with the shared test servers on a free port; killed after 15 s (a server that started by mistake). */
const api = (args: string[], env: Record<string, string | undefined> = {}, signalAfter?: { text: RegExp; signal: NodeJS.Signals }) =>
  runCli('services/api/main.ts', args, { NATS_URL: natsUrl(), REDIS_URL: redisUrl(), KEZEK_PREFIX: uniquePrefix(), PSEUDONYM_KEY: KEY, PORT: '0', LOG_LEVEL: 'warn', ...env }, { killAfterMs: 15_000, signalAfter });

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

describe('API CLI', () => {
  it('--help prints what it runs, the variables with a pointer to docs/operations.md and the exit codes, then exits 0', async () => {
    const r = await api(['--help']);
    expect(r.code, r.out).toBe(0);
    expect(r.stdout).toMatch(/^Usage: tsx services\/api\/main\.ts \[--help\]/);
    expect(r.stdout).toMatch(/Environment: PSEUDONYM_KEY \(required/);
    expect(r.stdout).toContain('docs/operations.md');
    expect(r.stdout).toMatch(/Exit codes: 0 .*1 runtime failure, 2 usage or configuration error.*\n.*3 cannot reach NATS \(NATS_URL\) or Redis \(REDIS_URL\)/);
    expect(r.stdout).not.toMatch(/API at http/); // nothing started
  });

  it('any other argument is a usage error naming it (exit 2); --port says to set PORT instead of leaving the default', { timeout: 60_000 }, async () => {
    const bogus = await api(['--bogus']);
    expect(bogus.code, bogus.out).toBe(2);
    expect(bogus.stderr).toContain('unknown argument "--bogus"');
    expect(bogus.stderr).toContain('Run with --help for usage.');
    expect(bogus.out).not.toMatch(/API at http/);

    for (const args of [['--port', '3471'], ['--port=3471']]) {
      const port = await api(args);
      expect(port.code, `${args.join(' ')}: ${port.out}`).toBe(2);
      expect(port.stderr).toContain('unknown argument --port');
      expect(port.stderr).toContain('use PORT=3471');
    }
    // a secret given as an argument is never echoed back (docs/security.md), nor a password inside a URL
    for (const args of [['--nats-password', 'hunter2-secret'], ['--pseudonym-key=hunter2-secret'], ['--redis-url', 'redis://:hunter2-secret@r:6379']]) {
      const secret = await api(args);
      expect(secret.code, args.join(' ')).toBe(2);
      expect(secret.stderr).toMatch(/use (NATS_PASSWORD|PSEUDONYM_KEY|REDIS_URL)=/);
      expect(secret.out).not.toContain('hunter2-secret');
    }
    const positional = await api(['serve']);
    expect(positional.code).toBe(2);
    expect(positional.stderr).toContain('unknown argument "serve"');
  });

  it('refuses to start without PSEUDONYM_KEY (exit 2), as the estimator, simulator and replay do; starts with one', { timeout: 60_000 }, async () => {
    const r = await api([], { PSEUDONYM_KEY: undefined });
    expect(r.code, r.out).toBe(2);
    expect(r.stderr).toMatch(/^Invalid configuration:\n {2}PSEUDONYM_KEY: required by the API/);
    expect(r.out).not.toMatch(/API at http|development key/);

    // with a key and reachable servers it starts, and stops cleanly on SIGTERM (exit 0)
    const ok = await api([], { LOG_LEVEL: 'info' }, { text: /API at http:\/\/127\.0\.0\.1:\d+\/v1/, signal: 'SIGTERM' });
    expect(ok.code, ok.out.slice(-1000)).toBe(0);
    expect(ok.out).toMatch(/"msg":"stopped"/);
  });

  it('an unreachable NATS or Redis is the shared one line naming the variable, exit 3, no stack trace', { timeout: 60_000 }, async () => {
    const nats = await api([], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(nats.code, nats.out).toBe(3);
    expect(nats.stderr).toBe('cannot reach NATS at nats://127.0.0.1:1 (NATS_URL): connection refused\n');

    const redis = await api([], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(redis.code, redis.out).toBe(3);
    expect(redis.out).not.toMatch(/redis error/); // the connection's retries are not logged before the one line
    expect(redis.stderr).toMatch(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:1 \(REDIS_URL\): .*ECONNREFUSED/);
    noStack(redis.stderr);
    expect(redis.out).not.toMatch(/API at http/);
  });
});

describe('buildApp', () => {
  it('requires config.PSEUDONYM_KEY: there is no built-in fallback key', async () => {
    const h = await createHarness();
    try {
      await expect(h.build({ config: { ...h.config, PSEUDONYM_KEY: undefined } })).rejects.toThrow(/PSEUDONYM_KEY is required/);
      const app = await h.build();
      expect(app.kezek.pseudonymKey).toBe(h.config.PSEUDONYM_KEY);
    } finally {
      await h.close();
    }
  });
});
