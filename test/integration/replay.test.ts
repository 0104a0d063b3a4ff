import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { subjects, type KezekEvent } from '../../shared/events/index.ts';
import { createEventPublisher } from '../../shared/producer/publisher.ts';
import { simulateQueue } from '../../shared/sim/des.ts';
import { readNdjsonEvents, replayEvents, sortByEventTime } from '../../services/replay/replay.ts';
import { natsUrl, tempDir, uniquePrefix } from '../helpers/env.ts';

const logger = createLogger({ service: 'test-replay', level: 'silent', pretty: false });
const catalogue = loadCatalogue();
const KEY = 'test-pseudonym-key-0123456789';
const T0 = Date.UTC(2026, 10, 16, 6, 0, 0);

/** A small recorded file: 1 h of korday trucks from the DES, written out of order, with bad lines mixed in. */
function writeFixture(dir: string): { path: string; valid: KezekEvent[]; badLines: number[] } {
  const { events } = simulateQueue({
    crossingId: 'korday',
    direction: 'KZ-KG',
    vehicleClass: 'truck',
    startMs: T0,
    durationMs: 3_600_000,
    seed: 5,
    arrivalRatePerHour: () => 20,
    maxArrivalRatePerHour: 20,
    lanes: [{ atMs: T0, value: 2 }],
    serviceTimeMeanSeconds: 300,
    serviceTimeScv: 1,
    probeEveryMs: 0,
  });
  const valid = events.slice(0, 40);
  const shuffled = [...valid].reverse();
  const lines = shuffled.map((e) => JSON.stringify(e));
  lines.splice(3, 0, '{not json');
  lines.splice(7, 0, JSON.stringify({ ...valid[0], eventId: 'x-unknown-crossing', crossingId: 'atlantis' }));
  lines.splice(10, 0, '');
  lines.splice(12, 0, JSON.stringify({ ...valid[1], eventId: 'x-no-offset', occurredAt: '2026-11-16T10:00:00' }));
  lines.push(JSON.stringify(valid[5])); // same eventId again: the later line is the bad one
  const path = join(dir, 'recorded.ndjson');
  writeFileSync(path, lines.join('\n') + '\n');
  // 1-based line numbers of the bad lines (the blank line 11 is ignored, not reported)
  return { path, valid, badLines: [4, 8, 13, lines.length] };
}

describe('replay of recorded NDJSON events', () => {
  it('reports bad lines by number, publishes every valid event once, and a second replay adds nothing', async () => {
    const { path, valid, badLines } = writeFixture(tempDir('kezek-replay'));
    const read = await readNdjsonEvents(path, { catalogue });
    expect(read.bad.map((b) => b.line)).toEqual(badLines);
    expect(read.bad[0]!.reasons[0]).toMatch(/invalid JSON/);
    expect(read.bad[1]!.reasons.join()).toMatch(/crossingId: unknown crossing "atlantis"/);
    expect(read.bad[2]!.reasons.join()).toMatch(/occurredAt: must include a UTC offset/);
    expect(read.bad[3]!.reasons.join()).toMatch(/duplicate eventId/);
    expect(read.events).toHaveLength(valid.length);

    const sorted = sortByEventTime(read.events).map((x) => x.event);
    const times = sorted.map((e) => Date.parse(e.occurredAt));
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);

    const prefix = uniquePrefix();
    const nc = await connectNats({ url: natsUrl(), name: 'replay-test' });
    try {
      await ensureStreams(nc, { prefix });
      const jsm = await jetstreamManager(nc);
      const publisher = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger });
      const first = await replayEvents({ publisher, events: sorted, speed: 'max', batchSize: 7 });
      expect(first).toMatchObject({ done: valid.length, stored: valid.length, duplicates: 0, stoppedEarly: false });
      expect((await jsm.streams.info(subjects(prefix).eventsStream)).state.messages).toBe(valid.length);

      const second = await replayEvents({ publisher, events: sorted, speed: 'max' });
      expect(second).toMatchObject({ done: valid.length, stored: 0, duplicates: valid.length });
      expect((await jsm.streams.info(subjects(prefix).eventsStream)).state.messages).toBe(valid.length);
      await publisher.close();
    } finally {
      await nc.close();
    }
  });

  it('paces publishing by recorded event time divided by speed', async () => {
    const events = [0, 1000, 1000, 61_000].map(
      (dt, i) =>
        ({
          eventId: `pace-${i}`,
          type: 'lanes.changed',
          crossingId: 'korday',
          direction: 'KZ-KG',
          vehicleClass: 'car',
          occurredAt: new Date(T0 + dt).toISOString(),
          lanesOpen: 2,
        }) as KezekEvent,
    );
    let clock = 0;
    const published: { at: number; ids: string[] }[] = [];
    const publisher = {
      publishMany: async (evs: readonly KezekEvent[]) => {
        published.push({ at: clock, ids: evs.map((e) => e.eventId) });
        return evs.map(() => 'stored' as const);
      },
    };
    await replayEvents({ publisher, events, speed: 100, now: () => clock, sleep: async (ms) => void (clock += ms) });
    // at 100x: 0 ms, 10 ms (two events due together), 610 ms
    expect(published.map((p) => p.ids)).toEqual([['pace-0'], ['pace-1', 'pace-2'], ['pace-3']]);
    expect(published[1]!.at).toBeGreaterThanOrEqual(10);
    expect(published[1]!.at).toBeLessThan(12);
    expect(published[2]!.at).toBeGreaterThanOrEqual(610);
    expect(published[2]!.at).toBeLessThan(612);

    // holding events until their time (a resumed real-time replay): the same events, the clock at T0 - 1 s and the
    // pacing 100x: nothing is published before the clock reaches its event time
    let wall = T0 - 1000;
    const held: { at: number; ids: string[] }[] = [];
    const heldPublisher = {
      publishMany: async (evs: readonly KezekEvent[]) => {
        held.push({ at: wall, ids: evs.map((e) => e.eventId) });
        return evs.map(() => 'stored' as const);
      },
    };
    await replayEvents({ publisher: heldPublisher, events, speed: 100, now: () => wall, sleep: async (ms) => void (wall += ms), holdUntilEventTime: () => wall });
    expect(held.map((p) => p.ids).flat()).toEqual(['pace-0', 'pace-1', 'pace-2', 'pace-3']);
    events.forEach((e) => {
      const at = held.find((p) => p.ids.includes(e.eventId))!.at;
      expect(at).toBeGreaterThanOrEqual(Date.parse(e.occurredAt));
      expect(at).toBeLessThan(Date.parse(e.occurredAt) + 1500);
    });
  });

  it('the CLI validates, reports line numbers, publishes, and --strict aborts on bad lines', () => {
    const { path, valid } = writeFixture(tempDir('kezek-replay-cli'));
    const prefix = uniquePrefix();
    const env = { ...process.env, NATS_URL: natsUrl(), KEZEK_PREFIX: prefix, PSEUDONYM_KEY: KEY, LOG_LEVEL: 'warn', DATA_DIR: tempDir('kezek-replay-data') };
    const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'services/replay/main.ts', path, ...args], { env, encoding: 'utf8', timeout: 60_000 });

    const strict = run('--strict');
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain(`${path}:4: invalid JSON`);
    expect(strict.stderr).toContain('nothing was published');

    const dry = run('--dry-run');
    expect(dry.status).toBe(0);
    expect(dry.stdout).toContain(`${valid.length} valid events, 4 bad lines`);

    const real = run('--speed', 'max');
    expect(real.status, real.stderr).toBe(0);
    expect(real.stdout).toContain(`published ${valid.length}/${valid.length}: ${valid.length} stored, 0 already in the stream`);
    expect(real.stderr).toContain(`${path}:13: occurredAt: must include a UTC offset`);

    const again = run();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`0 stored, ${valid.length} already in the stream`);
  });
});
