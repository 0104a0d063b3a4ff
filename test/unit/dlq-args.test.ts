import { describe, expect, it } from 'vitest';
import { parseCommand, UsageError } from '../../services/dlq/args.ts';
import { parseSeqs, parseSince } from '../../services/dlq/dlq.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

describe('dlq command line', () => {
  it('parses --since as a duration or an ISO time / UTC date', () => {
    expect(parseSince('24h', NOW)).toBe(NOW - 24 * 3_600_000);
    expect(parseSince('30m', NOW)).toBe(NOW - 30 * 60_000);
    expect(parseSince('7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseSince('2026-11-22T08:00:00+05:00', NOW)).toBe(Date.UTC(2026, 10, 22, 3, 0, 0));
    expect(parseSince('2026-11-22', NOW)).toBe(Date.UTC(2026, 10, 22));
    for (const bad of ['yesterday', '24', '2026-11-22T08:00:00', '1.5h', '']) expect(parseSince(bad, NOW)).toBeUndefined();
  });

  it('parses --seq lists', () => {
    expect(parseSeqs(['3,5', '9', '5'])).toEqual([3, 5, 9]);
    expect(parseSeqs(['3,x'])).toBeUndefined();
    expect(parseSeqs(['0'])).toBeUndefined();
  });

  it('builds commands with defaults', () => {
    expect(parseCommand(['stats'], NOW)).toEqual({ cmd: 'stats', json: false });
    expect(parseCommand(['list', '--crossing', 'korday', '--since', '1h'], NOW)).toEqual({ cmd: 'list', crossing: 'korday', sinceMs: NOW - 3_600_000, limit: 20, json: false, reason: undefined });
    expect(parseCommand(['redrive', '--seq', '4,5', '--yes'], NOW)).toMatchObject({ cmd: 'redrive', seqs: [4, 5], yes: true, dryRun: false });
    expect(parseCommand(['redrive', '--reason', 'max_deliver_exceeded', '--crossing', 'korday', '--dry-run'], NOW)).toMatchObject({ cmd: 'redrive', reason: 'max_deliver_exceeded', crossing: 'korday', dryRun: true });
    expect(parseCommand(['list', '--help'])).toEqual({ cmd: 'help' });
  });

  it('names the offending flag', () => {
    const cases: [string[], RegExp][] = [
      [[], /missing command/],
      [['purge'], /unknown command "purge"/],
      [['list', '--limit', '-1'], /--limit/],
      [['list', '--reason', 'late'], /--reason must be one of/],
      [['list', '--crossing', 'Korday!'], /--crossing/],
      [['stats', '--since', 'tomorrow'], /--since/],
      [['stats', '--limit', '3'], /--limit is not an option of stats/],
      [['redrive'], /needs --seq .* or --reason/],
      [['redrive', '--seq', '1', '--reason', 'too_late'], /--seq and --reason/],
      [['redrive', '--seq', '1', '--crossing', 'korday'], /--crossing goes with --reason/],
      [['redrive', '--seq', 'a'], /--seq must be/],
      [['list', '--bogus'], /bogus/],
    ];
    for (const [argv, re] of cases) {
      expect(() => parseCommand(argv, NOW), argv.join(' ')).toThrow(UsageError);
      expect(() => parseCommand(argv, NOW), argv.join(' ')).toThrow(re);
    }
  });
});
