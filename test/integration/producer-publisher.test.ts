import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { startNatsServer, freePort, type LocalServer } from '../../shared/local-servers.ts';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createLogger } from '../../shared/logger.ts';
import { KezekEventSchema, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { isPseudonym } from '../../shared/privacy.ts';
import { createEventPublisher, PublisherError } from '../../shared/producer/publisher.ts';
import { natsUrl, tempDir, uniquePrefix } from '../helpers/env.ts';

const logger = createLogger({ service: 'test-publisher', level: 'silent', pretty: false });
const KEY = 'test-pseudonym-key-0123456789';

const arrival = (n: number): KezekEvent =>
  KezekEventSchema.parse({
    eventId: `pub-test-${n}`,
    type: 'vehicle.arrived',
    crossingId: 'korday',
    direction: n % 2 ? 'KZ-KG' : 'KG-KZ',
    vehicleClass: 'car',
    occurredAt: new Date(Date.UTC(2026, 10, 20, 8, 0, n)).toISOString(),
    vehicleRef: `PLATE-${1000 + n}`,
  });

async function streamEventIds(jsm: JetStreamManager, stream: string): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  const ids: string[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m) ids.push((m.json() as KezekEvent).eventId);
  }
  return ids;
}

describe('buffered event publisher against a nats-server that goes away and comes back', () => {
  let server: LocalServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const prefix = uniquePrefix();
  const s = subjects(prefix);
  const bufferDir = tempDir('kezek-pubbuf');

  beforeAll(async () => {
    server = await startNatsServer({ dataDir: tempDir('kezek-nats'), port: await freePort() });
    nc = await connectNats({ url: server.url, name: 'publisher-test' });
    jsm = await ensureStreams(nc, { prefix });
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it('nothing is lost or stored twice across a broker outage and a producer restart', async () => {
    const opts = { nc, prefix, pseudonymKey: KEY, bufferDir, logger, ackTimeoutMs: 700, retryDelayMs: 100 };
    let pub = createEventPublisher(opts);

    // 1. broker up: acked and stored
    const before = await pub.publishMany(Array.from({ length: 20 }, (_, i) => arrival(i)));
    expect(before.every((o) => o === 'stored')).toBe(true);
    expect((await jsm.streams.info(s.eventsStream)).state.messages).toBe(20);

    // 2. broker down: events are buffered on disk (pseudonymised), in order
    await server.stop();
    const during: string[] = [];
    for (let i = 20; i < 35; i++) during.push(await pub.publish(arrival(i)));
    expect(during.every((o) => o === 'buffered')).toBe(true);
    expect(pub.stats().buffered).toBe(15);
    const journal = readdirSync(bufferDir).map((f) => readFileSync(join(bufferDir, f), 'utf8')).join('');
    expect(journal).toContain('pub-test-34');
    expect(journal).not.toContain('PLATE-');

    // a full in-memory buffer rejects with a code instead of dropping
    const small = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger, maxBuffered: 2, ackTimeoutMs: 300, retryDelayMs: 100 });
    await small.publish(arrival(100));
    await small.publish(arrival(101));
    const err = await small.publish(arrival(102)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublisherError);
    expect((err as PublisherError).code).toBe('BUFFER_FULL');
    await small.close();

    // 3. the producer restarts while the broker is still down: the disk buffer is reloaded
    await pub.close();
    await pub.close(); // idempotent
    pub = createEventPublisher(opts);
    expect(pub.stats().buffered).toBe(15);

    // 4. broker back: flush resends with the same eventIds
    await server.restart();
    await pub.flush(20_000);
    expect(pub.stats().buffered).toBe(0);
    expect(pub.stats().resent).toBe(15);

    const ids = await streamEventIds(jsm, s.eventsStream);
    expect(ids).toHaveLength(35);
    expect(new Set(ids).size).toBe(35);
    expect(ids.slice(20)).toEqual(Array.from({ length: 15 }, (_, i) => `pub-test-${20 + i}`));

    // 5. re-publishing stored events is recognised as duplicate and adds nothing
    const again = await pub.publishMany([arrival(3), arrival(25), arrival(34)]);
    expect(again).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect((await jsm.streams.info(s.eventsStream)).state.messages).toBe(35);

    // the stream holds pseudonyms, never plates, on per-direction subjects
    const m = await jsm.streams.getMessage(s.eventsStream, { seq: 1 });
    const stored = m!.json() as KezekEvent & { vehicleRef: string };
    expect(isPseudonym(stored.vehicleRef)).toBe(true);
    expect(m!.subject).toBe(s.eventsFor('korday', 'KG-KZ'));

    // the journal is empty once drained
    expect(readdirSync(bufferDir).map((f) => readFileSync(join(bufferDir, f), 'utf8')).join('')).toBe('');
    await pub.close();
    await expect(pub.publish(arrival(200))).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('buffered event publisher on the shared server', () => {
  it('publishes contract events with msgID = eventId (same id twice -> stored once)', async () => {
    const prefix = uniquePrefix();
    const nc = await connectNats({ url: natsUrl(), name: 'publisher-test-shared' });
    try {
      const jsm = await ensureStreams(nc, { prefix });
      const pub = createEventPublisher({ nc, prefix, pseudonymKey: KEY, logger });
      expect(await pub.publish(arrival(1))).toBe('stored');
      expect(await pub.publish(arrival(1))).toBe('duplicate');
      await pub.flush();
      expect((await jsm.streams.info(subjects(prefix).eventsStream)).state.messages).toBe(1);
      expect(pub.stats()).toMatchObject({ stored: 1, duplicates: 1, buffered: 0 });
      await pub.close();
    } finally {
      await nc.close();
    }
  });
});
