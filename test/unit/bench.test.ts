/** The pure helpers of the benchmark suite (bench/lib/stats.ts) and its event sources (bench/lib/events.ts). */
import { describe, expect, it } from 'vitest';
import { fmt, fmtPairedRatio, fmtRatio, formatTable, growth, judge, median, pairedRatio, parseOnly, percentile, pooledPercentile, ratio, type ResultRow } from '../../bench/lib/stats.ts';
import { createLiveTraffic, desEvents, syntheticCatalogue } from '../../bench/lib/events.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { validateEvent } from '../../shared/events/index.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { plainGet } from '../../bench/lib/load.ts';
import { unexpectedOf } from '../../bench/rows/polling.ts';

describe('pooledPercentile: the p99 of several rounds as one sample set', () => {
  const flat = { fromPct: 90, stepPct: 1, values: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1] };
  // 2 % of this round's requests took 5 ms or more, 1 % took 9 ms or more
  const spiky = { fromPct: 90, stepPct: 1, values: [1, 1, 1, 1, 1, 1, 1, 1, 5, 9, 10] };

  it('one round: its own percentile', () => {
    expect(pooledPercentile([{ count: 100, ...spiky }], 99)).toBe(9);
    expect(pooledPercentile([{ count: 100, ...spiky }], 98)).toBe(5);
  });

  it('equal rounds: a spike in one counts for its share of all requests (neither the worst round nor the median)', () => {
    // pooled CDF at 1 ms: (100 + 97) / 2 = 98.5 %; at 5 ms: (100 + 98) / 2 = 99 %
    expect(pooledPercentile([{ count: 100, ...flat }, { count: 100, ...spiky }], 99)).toBe(5);
  });

  it('weights rounds by their request counts', () => {
    // at 1 ms: (300 x 100 + 100 x 97) / 400 = 99.25 %
    expect(pooledPercentile([{ count: 300, ...flat }, { count: 100, ...spiky }], 99)).toBe(1);
    // the spiky round dominating: at 5 ms (100 x 100 + 300 x 98) / 400 = 98.5 %, at 9 ms 99.25 %
    expect(pooledPercentile([{ count: 100, ...flat }, { count: 300, ...spiky }], 99)).toBe(9);
  });

  it('NaN when the percentile is below the tails or there is nothing to pool', () => {
    expect(pooledPercentile([{ count: 100, ...flat }], 50)).toBeNaN();
    expect(pooledPercentile([], 99)).toBeNaN();
    expect(pooledPercentile([{ count: 0, ...flat }], 99)).toBeNaN();
  });
});

describe('median and pairedRatio', () => {
  it('median of odd and even counts, NaN for none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('pairs rounds, takes the median ratio, so one disturbed round does not decide', () => {
    // round 2's baseline was hit by a neighbour: its ratio is an outlier
    expect(pairedRatio([80, 90, 85], [100, 30, 100])).toBeCloseTo(0.85, 10);
    expect(pairedRatio([50, 60], [100, 100])).toBeCloseTo(0.55, 10);
    expect(pairedRatio([50], [0])).toBeNull();
    expect(pairedRatio([], [])).toBeNull();
  });

  it('shows the rounds\' spread beside the median ratio', () => {
    expect(fmtPairedRatio([80, 90, 85], [100, 30, 100])).toBe('85% (rounds 80-300%)');
    expect(fmtPairedRatio([47, 61, 53], [100, 100, 100])).toBe('53% (rounds 47-61%)');
    expect(fmtPairedRatio([50], [100])).toBe('50%');
    expect(fmtPairedRatio([50], [0])).toBe('-');
  });
});

describe('percentile', () => {
  it('uses the nearest rank, whatever the input order', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(xs, 50)).toBe(5);
    expect(percentile(xs, 90)).toBe(9);
    expect(percentile(xs, 99)).toBe(10);
    expect(percentile(xs, 100)).toBe(10);
    expect(percentile(xs, 0)).toBe(1);
  });
  it('is NaN without samples and rejects a p outside [0, 100]', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });
  it('does not reorder the caller\'s array', () => {
    const xs = [3, 1, 2];
    percentile(xs, 50);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('ratio, growth and verdicts', () => {
  it('gives null for a missing or zero baseline', () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(50, 0)).toBeNull();
    expect(ratio(NaN, 10)).toBeNull();
    expect(fmtRatio(0.6049)).toBe('60%');
    // beside a threshold, a figure that is not the threshold never reads as it
    expect(fmtRatio(0.5983, 0.6)).toBe('59.8%');
    expect(fmtRatio(0.6049, 0.6)).toBe('60.5%');
    expect(fmtRatio(0.59999, 0.6)).toBe('59.999%');
    expect(fmtRatio(0.6, 0.6)).toBe('60%');
    expect(fmtRatio(0.7342, 0.7)).toBe('73%');
    expect(fmt(4.96, 'ms', 1, 5)).toBe('4.96 ms');
    expect(fmt(5.04, 'ms', 1, 5)).toBe('5.04 ms');
    expect(fmt(4.7, 'ms', 1, 5)).toBe('4.7 ms');
    expect(fmtPairedRatio([59.6, 61, 58], [100, 100, 100], 0.6)).toBe('59.6% (rounds 58-61%)');
    expect(fmtRatio(null)).toBe('-');
    // a tiny negative growth (the growth row) does not print as "-0%"
    expect(fmtRatio(-0.002)).toBe('0%');
    expect(fmtRatio(-0.012)).toBe('-1%');
  });
  it('a target passes only when met, and a missing number never passes', () => {
    const t = { op: '>=' as const, threshold: 0.6, label: '>= 60%' };
    expect(judge(0.6, t)).toBe('PASS');
    expect(judge(0.59, t)).toBe('FAIL');
    expect(judge(null, t)).toBe('n/a');
    expect(judge(NaN, { op: '<', threshold: 100, label: 'p99 < 100 ms' })).toBe('n/a');
    expect(judge(100, { op: '<', threshold: 100, label: 'p99 < 100 ms' })).toBe('FAIL');
    expect(judge(3, undefined)).toBe('info');
  });
  it('growth is relative to the first value', () => {
    expect(growth(100, 110)).toBeCloseTo(0.1);
    expect(growth(0, 5)).toBeNull();
  });
  it('formats numbers with units and dashes for missing values', () => {
    expect(fmt(1234.5, 'ev/s')).toBe('1,235 ev/s');
    expect(fmt(3.14159, 'ms')).toBe('3.14 ms');
    expect(fmt(undefined)).toBe('-');
  });
});

describe('formatTable', () => {
  const row = (what: string): ResultRow => ({ group: '1 ingest', what, result: '10 ev/s', baseline: '20 ev/s', ratio: '50%', target: '>= 60%', verdict: 'FAIL' });
  it('prints a header, a rule and one line per row, all the same width', () => {
    const lines = formatTable([row('a'), row('a much longer measurement')]).split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\| row +\| measurement +\| result/);
    expect(lines[1]).toMatch(/^\|-+\|/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(lines[3]).toContain('FAIL');
  });
  it('escapes pipes so a cell cannot break the Markdown table', () => {
    const out = formatTable([row('a | b')]);
    expect(out).toContain('a \\| b');
  });
});

describe('parseOnly', () => {
  const known = ['ingest', 'freshness', 'polling'];
  it('keeps the canonical order and defaults to every row', () => {
    expect(parseOnly('polling,ingest', known)).toEqual(['ingest', 'polling']);
    expect(parseOnly(undefined, known)).toEqual(known);
  });
  it('names an unknown row', () => {
    expect(() => parseOnly('ingest,nope', known)).toThrow(/nope/);
  });
});

describe('benchmark event sources', () => {
  const catalogue = loadCatalogue();
  it('DES traffic is valid v1 events in event-time order, no later than endMs, with unique ids', () => {
    const endMs = Date.UTC(2026, 10, 20, 12);
    const events = desEvents({ catalogue, queues: catalogue.queues(), count: 3000, endMs, tag: 't' });
    expect(events.length).toBe(3000);
    const times = events.map((e) => Date.parse(e.occurredAt));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    expect(Math.max(...times)).toBeLessThan(endMs);
    expect(new Set(events.map((e) => e.eventId)).size).toBe(events.length);
    for (const ev of events.slice(0, 500)) expect(validateEvent(ev, { catalogue, now: endMs }).ok).toBe(true);
  });
  it('a synthetic catalogue has exactly the requested number of queues and passes the real schema', () => {
    const { catalogue: synth } = syntheticCatalogue(catalogue, 100);
    expect(synth.queues()).toHaveLength(100);
    const [ev] = desEvents({ catalogue: synth, queues: synth.queues(), count: 1, endMs: Date.UTC(2026, 10, 20), tag: 's' });
    expect(validateEvent(ev, { catalogue: synth, now: Date.UTC(2026, 10, 20) }).ok).toBe(true);
  });
  it('live traffic only starts service for vehicles that arrived earlier on the same queue', () => {
    const queues = catalogue.queues().slice(0, 3);
    const next = createLiveTraffic(queues, 'lt');
    const arrived = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const ev = next(Date.UTC(2026, 10, 20) + i);
      expect(validateEvent(ev, { catalogue, now: Date.UTC(2026, 10, 21) }).ok).toBe(true);
      if (ev.type === 'vehicle.arrived') arrived.add(`${ev.crossingId}/${ev.direction}/${ev.vehicleClass}/${ev.vehicleRef}`);
      else if ('vehicleRef' in ev) expect(arrived.has(`${ev.crossingId}/${ev.direction}/${ev.vehicleClass}/${ev.vehicleRef}`)).toBe(true);
    }
  });
});

describe('polling row: what the load generator is sent', () => {
  it('plainGet sends only the headers given (fetch adds Accept-Encoding, so the API would answer its gzip ETag)', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers['accept-encoding']);
      res.setHeader('etag', req.headers['accept-encoding']?.includes('gzip') ? '"doc-gz"' : '"doc"');
      res.end('{"a":1}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const plain = await plainGet(url);
      expect(plain).toMatchObject({ status: 200, headers: { etag: '"doc"' } });
      expect(plain.body.toString()).toBe('{"a":1}');
      expect((await plainGet(url, { 'accept-encoding': 'gzip' })).headers.etag).toBe('"doc-gz"');
      // the trap plainGet avoids
      expect((await fetch(url)).headers.get('etag')).toBe('"doc-gz"');
      expect(seen.slice(0, 2)).toEqual([undefined, 'gzip']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a run meant to get 304s that was sent the document counts every response as unexpected', () => {
    const base = { reqPerSec: 1000, p50: 1, p99: 2, ok2xx: 0, ok3xx: 5000, other: 0, errors: 0, requests: 5000 };
    expect(unexpectedOf({ ...base, bytesPerReq: 276 }, '3xx', 2494)).toBe(0);
    expect(unexpectedOf({ ...base, bytesPerReq: 2829 }, '3xx', 2494)).toBe(5000);
    expect(unexpectedOf({ ...base, bytesPerReq: 276, other: 3, errors: 2 }, '3xx', 2494)).toBe(5);
    // a 2xx run is judged by its status classes only
    expect(unexpectedOf({ ...base, ok2xx: 5000, ok3xx: 0, bytesPerReq: 2829 }, '2xx', 2494)).toBe(0);
  });
});
