/**
 * services/replay/make-sample.ts as an operator runs it: --help, usage errors naming the flag and the valid values
 * (exit 2, no stack traces), the committed sample never overwritten by default, and deterministic output.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { tempDir } from '../helpers/env.ts';

const ROOT = join(import.meta.dirname, '../..');
const SAMPLE = join(ROOT, 'seeds/sample-day.ndjson');

const makeSample = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'services/replay/make-sample.ts', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH } });
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/);

describe('make-sample CLI', () => {
  it('--help describes every option, the overwrite rule, the exit codes and examples', () => {
    const r = makeSample('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--out', '--force', '--crossing', '--classes', '--date', '--seed']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/NOT overwritten unless --force/);
    expect(r.stdout).toMatch(/Exit codes:/);
    expect(r.stdout).toMatch(/Examples:/);
  });

  it('bad values are usage errors naming the flag and the valid values', { timeout: 120_000 }, () => {
    const out = join(tempDir('kezek-make-sample'), 'x.ndjson');
    const cases: [string[], RegExp][] = [
      [['--crossing', 'nowhere'], /--crossing: unknown crossing "nowhere" \(valid: korday, .*dostyk/],
      [['--classes', 'plane'], /--classes: unknown vehicle class "plane" \(valid: truck, car, bus, pedestrian\)/],
      [['--crossing', 'karasu', '--classes', 'truck,bus'], /--classes: karasu does not serve bus \(it serves: truck\)/],
      [['--classes', ','], /--classes must list at least one vehicle class/],
      [['--date', '2026-13-45'], /--date must be a real calendar date YYYY-MM-DD/],
      [['--date', '2026-02-30'], /--date must be a real calendar date/],
      [['--date', '10.03.2026'], /--date must be a real calendar date/],
      [['--seed', 'abc'], /--seed must be an integer \(got "abc"\)/],
      [['--seed', '1.5'], /--seed must be an integer/],
      [['--bogus'], /^unknown option --bogus\n/],
      [['--seed', '-7', '--crossing'], /^--crossing needs a value\n/],
    ];
    for (const [args, message] of cases) {
      const r = makeSample('--out', out, ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      noStack(r.stderr);
    }
    expect(() => statSync(out)).toThrow(); // nothing written
  });

  it('does not overwrite an existing file (the committed sample by default) without --force', () => {
    const before = statSync(SAMPLE);
    const byDefault = makeSample();
    expect(byDefault.status).toBe(2);
    expect(byDefault.stderr).toMatch(/seeds\/sample-day\.ndjson exists: not overwritten\. Pass --force/);
    expect(statSync(SAMPLE).mtimeMs).toBe(before.mtimeMs);

    const out = join(tempDir('kezek-make-sample'), 'day.ndjson');
    writeFileSync(out, 'keep me\n');
    expect(makeSample('--out', out).status).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('keep me\n');
    const forced = makeSample('--out', out, '--force');
    expect(forced.status, forced.stderr).toBe(0);
    // the defaults reproduce the committed sample byte for byte
    expect(readFileSync(out, 'utf8')).toBe(readFileSync(SAMPLE, 'utf8'));
  });

  it('writes gzip for a .gz name, and other crossings / classes / dates / seeds', () => {
    const dir = tempDir('kezek-make-sample');
    const gz = makeSample('--out', join(dir, 'day.ndjson.gz'));
    expect(gz.status, gz.stderr).toBe(0);
    expect(gunzipSync(readFileSync(join(dir, 'day.ndjson.gz'))).toString('utf8')).toBe(readFileSync(SAMPLE, 'utf8'));

    const other = makeSample('--out', join(dir, 'karasu.ndjson'), '--crossing', 'karasu', '--date', '2026-11-20', '--seed', '-7'); // a negative value without "="
    expect(other.status, other.stderr).toBe(0);
    expect(other.stdout).toMatch(/wrote \d+ events \(2026-11-20 local, karasu, truck, seed -7\)/);
  });
});
