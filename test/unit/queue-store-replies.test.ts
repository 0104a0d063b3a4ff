import { describe, expect, it } from 'vitest';
import { windowReply } from '../../shared/queue-store/store.ts';

describe("read-window's reply check", () => {
  const counts = ['', '900', 3, '1000', 2, '1000', 0, '1000', 0, '1000', 1, '1000', 0];
  const full = [0, 2000, 1000, 3, 2, 1990, -1, '', ['p1', 900], [], 'A1500\u001fe1\u001fp1', [1200, 'closed'], 0, counts];

  it('accepts the three reply shapes of the script', () => {
    expect(windowReply([5])).toEqual([5]);
    expect(windowReply([4, 123])).toEqual([4, 123]);
    expect(windowReply(full)).toEqual(full);
  });

  it.each([
    ['not an array', 'oops'],
    ['an unknown code', [7]],
    ['code 5 with extra items', [5, 1]],
    ['code 4 without its boundary', [4]],
    ['code 4 with a text boundary', [4, 'x']],
    ['code 0 with an item missing', full.slice(0, 13)],
    ['a delta flag other than 0 or 1', full.map((x, i) => (i === 12 ? 2 : x))],
    ['counts for fewer than the 6 kinds', full.map((x, i) => (i === 13 ? counts.slice(0, 11) : x))],
    ['a text where a number belongs', full.map((x, i) => (i === 3 ? '3' : x))],
    ['a number where the status member belongs', full.map((x, i) => (i === 7 ? 0 : x))],
    ['a list where the packed records belong', full.map((x, i) => (i === 10 ? [] : x))],
    ['a nested list in the earlier arrivals', full.map((x, i) => (i === 8 ? [['p1', 900]] : x))],
    ['a null in the status records', full.map((x, i) => (i === 11 ? [null] : x))],
  ])('rejects %s', (_what, reply) => {
    expect(windowReply(reply)).toBeNull();
  });
});
