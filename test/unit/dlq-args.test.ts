import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crossingNote, parseCommand, USAGE, UsageError } from '../../services/dlq/args.ts';
import { formatEntry, LIST_HEADER, listCutNote, parseSeqs, parseSince, selectDeadLetters, type DlqEntry } from '../../services/dlq/dlq.ts';
import { ROOT } from '../helpers/cli.ts';

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
      [['list', '--limit', '-1'], /^--limit must be a whole number \(0 = all\), got "-1"$/],
      [['list', '--limit', '-3', '--json'], /^--limit must be a whole number \(0 = all\), got "-3"$/],
      [['list', '--limit', '--json'], /^--limit needs a value, but the next argument is an option/],
      [['list', '--reason', 'late'], /--reason must be one of/],
      [['list', '--crossing', 'Korday!'], /--crossing/],
      [['stats', '--since', 'tomorrow'], /--since/],
      [['stats', '--limit', '3'], /--limit is not an option of stats/],
      [['redrive'], /needs --seq .* or --reason/],
      [['redrive', '--seq', '1', '--reason', 'too_late'], /--seq and --reason/],
      [['redrive', '--seq', '1', '--crossing', 'korday'], /--crossing goes with --reason/],
      [['redrive', '--seq', 'a'], /--seq must be/],
      [['list', '--bogus'], /^unknown option --bogus$/],
      [['stats', '--crossing', 'Korday!'], /--crossing must be a crossing id like "korday"/],
    ];
    for (const [argv, re] of cases) {
      expect(() => parseCommand(argv, NOW), argv.join(' ')).toThrow(UsageError);
      expect(() => parseCommand(argv, NOW), argv.join(' ')).toThrow(re);
    }
  });

  it('--crossing takes any well-formed id; one the catalogue lacks gets a note (its letters stay reachable)', () => {
    const known = () => ['korday', 'dostyk'];
    expect(parseCommand(['stats', '--crossing', 'dostyk'], NOW)).toMatchObject({ crossing: 'dostyk' });
    expect(parseCommand(['list', '--crossing', 'atlantis', '--reason', 'invalid_event'], NOW)).toMatchObject({ crossing: 'atlantis' });
    expect(crossingNote('dostyk', known)).toBeUndefined();
    expect(crossingNote('unknown', known)).toBeUndefined();
    expect(crossingNote('atlantis', known)).toMatch(/^note: --crossing "atlantis" is not a crossing of the catalogue \(korday, dostyk; "unknown" = .*\): showing its DLQ subject anyway$/);
  });
});

describe('dlq help and docs', () => {
  it('says redrive publishes to the event\'s own subject, not the one it came from', () => {
    expect(USAGE).toMatch(/re-published, to the event's own subject \(from its crossingId and direction; the\s+subject it came on only when those are unusable\)/);
    expect(USAGE).not.toMatch(/to the subject it came from/);
  });

  it('every example that redirects output runs npm silently (-s), so the file holds no npm banner', () => {
    const docs: [string, string][] = [
      ['dlq --help', USAGE],
      ...['services/dlq/README.md', 'services/replay/README.md', 'docs/operations.md', 'README.md'].map((f): [string, string] => [f, readFileSync(join(ROOT, f), 'utf8')]),
    ];
    let redirects = 0;
    for (const [name, text] of docs) {
      for (const line of text.split('\n').filter((l) => /npm run\b.* > *\S/.test(l.replace(/#.*$/, '')))) {
        redirects++;
        expect(line, name).toMatch(/npm run (-s|--silent) /);
      }
    }
    expect(redirects).toBeGreaterThanOrEqual(2); // the --help example and the README's
  });
});

describe('dlq list output', () => {
  const entry = (dlqSeq: number, reason = 'too_late'): DlqEntry => ({
    dlqSeq,
    dlqSubject: 'kezek.v1.dlq.korday',
    crossing: 'korday',
    time: '2026-11-22T03:15:04.000Z',
    letter: { reason: reason as 'too_late', issues: [{ path: 'occurredAt', message: 'older than the 7-day retention' }], subject: 'kezek.v1.events.korday.KZ-KG', seq: dlqSeq, deliveryCount: 1, payload: { eventId: `e${dlqSeq}`, type: 'vehicle.arrived' }, deadLetteredAt: '2026-11-22T03:15:04.000Z' },
  });
  async function* letters(n: number): AsyncGenerator<DlqEntry> {
    for (let i = 1; i <= n; i++) yield entry(i, i % 2 ? 'too_late' : 'invalid_event');
  }

  it('counts every match, keeps the newest --limit, and says so when the limit cut the list', async () => {
    const cut = await selectDeadLetters(letters(9), { reason: 'too_late', limit: 2 });
    expect(cut.entries.map((e) => e.dlqSeq)).toEqual([9, 7]);
    expect(cut.matched).toBe(5);
    expect(listCutNote(cut.entries.length, cut.matched)).toBe('2 of 5 matching dead letters shown (newest first); --limit 0 for all');
    const whole = await selectDeadLetters(letters(9), { limit: 0 });
    expect([whole.entries.length, whole.matched]).toEqual([9, 9]);
    expect(listCutNote(9, 9)).toBe('');
  });

  it('has a header line whose columns line up with the entries', () => {
    const line = formatEntry(entry(1042));
    for (const column of ['crossing', 'reason']) {
      const at = LIST_HEADER.indexOf(column);
      expect(line.slice(at, at + 3), column).toBe(column === 'crossing' ? 'kor' : 'too');
    }
    expect(LIST_HEADER).toMatch(/^time +crossing +reason +first issue .*seq=/);
  });
});
