/**
 * services/simulator/main.ts as an operator runs it: the --start / --end checks made before connecting, the
 * retention warning, an unreachable NATS named by its variable (exit 3), and the help text.
 */
import { describe, expect, it } from 'vitest';
import { natsUrl, tempDir, uniquePrefix } from '../helpers/env.ts';
import { runCli } from '../helpers/cli.ts';

const DAY = 86_400_000;

const simulate = (args: string[], env: Record<string, string> = {}) =>
  runCli('services/simulator/main.ts', args, { NATS_URL: natsUrl(), KEZEK_PREFIX: uniquePrefix(), PSEUDONYM_KEY: 'simulator-cli-test-key-0123', LOG_LEVEL: 'warn', DATA_DIR: tempDir('kezek-sim-cli-data'), ...env });

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);
const iso = (ms: number) => new Date(ms).toISOString();

describe('simulator CLI', () => {
  it('--help shows examples and the exit codes', async () => {
    const r = await simulate(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Examples:/);
    expect(r.stdout.match(/npm run simulate/g)!.length).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toMatch(/Exit codes:.*2 usage.*\n.*3 cannot reach NATS \(NATS_URL\)/);
  });

  it('--end at or before --start is a usage error naming both', { timeout: 60_000 }, async () => {
    for (const [start, end] of [
      ['2026-11-22T00:00:00Z', '2026-11-21T00:00:00Z'],
      ['2026-11-22T00:00:00Z', '2026-11-22T05:00:00+05:00'],
    ]) {
      const r = await simulate(['--start', start!, '--end', end!]);
      expect(r.code, `${start} ${end}`).toBe(2);
      expect(r.stderr).toContain(`--end ${end} must be after --start ${start}`);
      noStack(r.stderr);
    }
    // without --start, against the default start (now - 24 h when accelerated)
    const past = await simulate(['--speed', '100', '--end', iso(Date.now() - 2 * DAY)]);
    expect(past.code).toBe(2);
    expect(past.stderr).toMatch(/must be after the default start .*now - 24 h when accelerated/);
  });

  it('a future --start is a usage error, not silently clamped to now', async () => {
    const start = iso(Date.now() + DAY);
    const r = await simulate(['--start', start]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--start ${start} is in the future`);
  });

  it('a --start beyond the 7-day retention is warned about; an unreachable NATS is one line naming NATS_URL, exit 3', async () => {
    const start = iso(Date.now() - 10 * DAY);
    const r = await simulate(['--speed', 'max', '--start', start, '--end', iso(Date.now() - 9 * DAY)], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(r.stderr).toMatch(new RegExp(`warning: --start ${start} is 10\\.0 days ago, beyond the queue store's 7-day retention: .*too_late`));
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/\ncannot reach NATS at nats:\/\/127\.0\.0\.1:1 \(NATS_URL\): connection refused\n$/);
    noStack(r.stderr);

    const recent = await simulate(['--speed', 'max', '--start', iso(Date.now() - DAY)], { NATS_URL: 'nats://127.0.0.1:1' });
    expect(recent.code).toBe(3);
    expect(recent.stderr).not.toMatch(/warning/);
  });

  it('runs a short past range to its end and exits 0', async () => {
    const end = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
    const r = await simulate(['--speed', 'max', '--crossing', 'korday', '--start', iso(end - 3_600_000), '--end', iso(end)]);
    expect(r.code, r.stderr).toBe(0);
  });
});
