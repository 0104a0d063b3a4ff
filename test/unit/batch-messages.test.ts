/**
 * Batch messages, both ends: the gateway's grouping (toMessages: by subject, in order, chunked, deterministic
 * msgIDs) and the estimator's ack policy over the outcomes of one message (settle). The message and JetStream
 * client here only record what settle asks of them; the real round trips are in test/integration/ingest.test.ts and
 * test/integration/estimator.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { MAX_EVENTS_PER_MESSAGE, subjects, type KezekEvent } from '../../shared/events/index.ts';
import { toMessages } from '../../services/api/routes/events.ts';
import { pseudonymise } from '../../shared/privacy.ts';
import { decodeMessage, processMessage, settle, type MessageContext, type Outcome } from '../../services/estimator/messages.ts';

const s = subjects('t');
let n = 0;
const arrival = (direction: string, extra: Record<string, unknown> = {}): KezekEvent =>
  ({ eventId: `e${++n}`, type: 'vehicle.arrived', crossingId: 'korday', direction, vehicleClass: 'truck', occurredAt: '2026-11-22T08:00:00Z', ...extra }) as KezekEvent;

describe('toMessages (the gateway)', () => {
  it('groups by subject in first-seen order, keeps the events in order and gives a group of one its own eventId', () => {
    const a = arrival('KZ-KG');
    const b = arrival('KG-KZ');
    const c = arrival('KZ-KG');
    const msgs = toMessages([a, b, c], s);
    expect(msgs.map((m) => [m.subject, m.events])).toEqual([
      ['t.v1.events.korday.KZ-KG', 2],
      ['t.v1.events.korday.KG-KZ', 1],
    ]);
    expect((JSON.parse(msgs[0]!.data) as KezekEvent[]).map((e) => e.eventId)).toEqual([a.eventId, c.eventId]);
    expect(JSON.parse(msgs[1]!.data)).toEqual(b);
    expect(msgs[1]!.msgID).toBe(b.eventId);
    expect(msgs[0]!.msgID).toMatch(/^batch:[0-9a-f]{128}$/); // 134 characters: longer than any eventId may be
  });

  it('gives the same batch the same msgIDs (a re-sent request is de-duplicated) and another batch others', () => {
    const evs = Array.from({ length: 5 }, () => arrival('KZ-KG'));
    expect(toMessages(evs, s).map((m) => m.msgID)).toEqual(toMessages(evs.map((e) => ({ ...e })), s).map((m) => m.msgID));
    expect(toMessages(evs.slice(1), s)[0]!.msgID).not.toBe(toMessages(evs, s)[0]!.msgID);
    expect(toMessages([...evs].reverse(), s)[0]!.msgID).not.toBe(toMessages(evs, s)[0]!.msgID);
  });

  it('cuts a group every MAX_EVENTS_PER_MESSAGE events and before 256 KiB of UTF-8 JSON', () => {
    const many = Array.from({ length: 2 * MAX_EVENTS_PER_MESSAGE + 1 }, () => arrival('KZ-KG'));
    expect(toMessages(many, s).map((m) => m.events)).toEqual([MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE, 1]);
    // the contract keeps real events far smaller; the byte cut is the guard for NATS max_payload
    const big = Array.from({ length: 10 }, () => arrival('KZ-KG', { source: 'x'.repeat(60_000) }));
    const msgs = toMessages(big, s);
    expect(msgs.map((m) => m.events)).toEqual([4, 4, 2]);
    expect(Math.max(...msgs.map((m) => m.data.length))).toBeLessThanOrEqual(256 * 1024);
    expect(msgs.flatMap((m) => [JSON.parse(m.data)].flat() as KezekEvent[]).map((e) => e.eventId)).toEqual(big.map((e) => e.eventId));
    // bytes, not characters: 30,000 Cyrillic letters are 60,000 bytes
    const wide = toMessages(Array.from({ length: 10 }, () => arrival('KZ-KG', { source: 'ж'.repeat(30_000) })), s);
    expect(wide.map((m) => m.events)).toEqual([4, 4, 2]);
    expect(Math.max(...wide.map((m) => Buffer.byteLength(m.data)))).toBeLessThanOrEqual(256 * 1024);
  });
});

describe('decodeMessage (the estimator)', () => {
  const msg = (text: string) => ({ subject: 't.v1.events.korday.KZ-KG', data: new TextEncoder().encode(text) }) as unknown as JsMsg;
  const poisonOf = (text: string) => {
    const d = decodeMessage(msg(text), 't');
    return 'poison' in d ? d.poison : undefined;
  };

  it('reads an object as one event and an array of objects as a batch', () => {
    expect(decodeMessage(msg('{"eventId":"a"}'), 't')).toEqual({ items: [{ eventId: 'a' }], batch: false });
    expect(decodeMessage(msg('[{"eventId":"a"},{"eventId":"b"}]'), 't')).toEqual({ items: [{ eventId: 'a' }, { eventId: 'b' }], batch: true });
  });

  it('makes the whole message one poison when it is not JSON, an empty array, or an array of non-objects', () => {
    expect(poisonOf('{"eventId":')).toMatchObject({ reason: 'invalid_json' });
    expect(poisonOf('[]')).toMatchObject({ reason: 'invalid_event', crossingId: 'korday', issues: [{ message: expect.stringMatching(/got 0/) }] });
    expect(poisonOf('[{"eventId":"a"},7]')).toMatchObject({ reason: 'invalid_event', issues: [{ path: '1', message: expect.stringMatching(/element 1 is a number/) }] });
    expect(poisonOf('[[[]]]')).toMatchObject({ issues: [{ path: '0', message: expect.stringMatching(/an array/) }] });
    expect(poisonOf('[null]')).toMatchObject({ issues: [{ message: expect.stringMatching(/is null/) }] });
    // refused as a whole, a batch is kept as its raw text (any nesting depth; refs are masked in the text)
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    expect(poisonOf(deep)).toMatchObject({ reason: 'invalid_event', payload: deep });
  });
});

describe('processMessage (the estimator): an oversized batch', () => {
  it('dead-letters each of its events with its index and applies none (each can be redriven)', async () => {
    const evs = Array.from({ length: MAX_EVENTS_PER_MESSAGE + 1 }, () => arrival('KZ-KG', { vehicleRef: '01KZ777ABC' }));
    const m = { subject: 't.v1.events.korday.KZ-KG', data: new TextEncoder().encode(JSON.stringify(evs)) } as unknown as JsMsg;
    const decoded = decodeMessage(m, 't');
    expect(decoded).toMatchObject({ batch: true, oversized: true });
    const store = { applyEvent: () => Promise.reject(new Error('must not be called')) };
    const outcomes = await processMessage(m, decoded, { store, prefix: 't' } as unknown as MessageContext);
    expect(outcomes).toHaveLength(evs.length);
    expect(outcomes.every((o, i) => o.kind === 'poison' && o.index === i && o.reason === 'invalid_event' && (o.payload as KezekEvent).eventId === evs[i]!.eventId)).toBe(true);
    expect(outcomes[0]).toMatchObject({ crossingId: 'korday', issues: [{ message: expect.stringMatching(/held 101 events, at most 100/) }] });
  });
});

describe('settle (the estimator, one message with several outcomes)', () => {
  function fixture(deliveryCount: number, publishFails = false) {
    const naks: number[] = [];
    const published: { subject: string; body: Record<string, unknown>; msgID: string }[] = [];
    const m = { subject: 't.v1.events.korday.KZ-KG', data: new Uint8Array(), info: { streamSequence: 42, deliveryCount }, nak: (d: number) => naks.push(d) } as unknown as JsMsg;
    const js = {
      publish: async (subject: string, body: string, opts: { msgID: string }) => {
        if (publishFails) throw new Error('no responders');
        const duplicate = published.some((p) => p.msgID === opts.msgID); // as the DLQ stream de-duplicates by msgID
        published.push({ subject, body: JSON.parse(body) as Record<string, unknown>, msgID: opts.msgID });
        return { stream: 'T_DLQ', seq: published.length, duplicate };
      },
    } as unknown as JetStreamClient;
    const ctx = { js, prefix: 't', maxDeliver: 3, pseudonymKey: 'k' } as unknown as MessageContext;
    return { m, ctx, naks, published };
  }
  const ok = (index: number): Outcome => ({ kind: 'applied', event: arrival('KZ-KG'), index });
  const poison = (index: number): Outcome => ({ kind: 'poison', reason: 'invalid_event', issues: [{ path: 'lanesOpen', message: 'bad' }], crossingId: 'korday', payload: { eventId: `p${index}` }, index });
  const transient = (index: number): Outcome => ({ kind: 'transient', error: new Error('redis down'), crossingId: 'korday', payload: { eventId: `t${index}` }, index });

  it('acks when every event was applied or a duplicate', async () => {
    const f = fixture(1);
    expect(await settle(f.m, [ok(0), { kind: 'duplicate', event: arrival('KZ-KG'), index: 1 }], f.ctx)).toBe('acked');
    expect(f.naks).toEqual([]);
    expect(f.published).toEqual([]);
  });

  it('dead-letters each poison event on its own, with its index and a per-event msgID; the rest stays applied', async () => {
    const f = fixture(1);
    expect(await settle(f.m, [ok(0), poison(1), ok(2), poison(3)], f.ctx)).toBe('dead-lettered');
    expect(f.naks).toEqual([]);
    expect(f.published.map((p) => [p.subject, p.msgID, p.body.index, (p.body.payload as { eventId: string }).eventId])).toEqual([
      ['t.v1.dlq.korday', 'dlq:T_EVENTS:42#1', 1, 'p1'],
      ['t.v1.dlq.korday', 'dlq:T_EVENTS:42#3', 3, 'p3'],
    ]);
  });

  it('naks the whole message on a transient failure before the last delivery, dead-lettering nothing yet', async () => {
    const f = fixture(1);
    expect(await settle(f.m, [ok(0), poison(1), transient(2)], f.ctx)).toBe('retried');
    expect(f.naks).toEqual([1000]);
    expect(f.published).toEqual([]);
  });

  it('on the last delivery dead-letters the transient events as max_deliver_exceeded, and the poison ones', async () => {
    const f = fixture(3);
    expect(await settle(f.m, [ok(0), poison(1), transient(2)], f.ctx)).toBe('dead-lettered');
    expect(f.published.map((p) => [p.body.reason, p.body.index])).toEqual([
      ['invalid_event', 1],
      ['max_deliver_exceeded', 2],
    ]);
  });

  it('naks when a dead letter cannot be published, so nothing disappears', async () => {
    const f = fixture(1, true);
    expect(await settle(f.m, [ok(0), poison(1)], f.ctx)).toBe('retried');
    expect(f.naks).toEqual([1000]);
  });

  it('keeps a batch message rejected as a whole as its raw text, with every vehicle ref pseudonymised', async () => {
    const already = pseudonymise('01KZ888XYZ', 'k');
    const text = JSON.stringify([{ eventId: 'a', vehicleRef: '01KZ777ABC' }, 7, { eventId: 'b', vehicleRef: already }]);
    const f = fixture(1);
    const d = decodeMessage({ ...f.m, data: new TextEncoder().encode(text) } as unknown as JsMsg, 't');
    if (!('poison' in d)) throw new Error('expected a whole-message poison');
    expect(d.poison.payload).toBe(text);
    expect(await settle(f.m, [d.poison], f.ctx)).toBe('dead-lettered');
    const stored = String(f.published[0]!.body.payload);
    expect(stored).not.toContain('01KZ777ABC');
    expect(stored).toContain(`"vehicleRef":"${pseudonymise('01KZ777ABC', 'k')}"`);
    expect(stored).toContain(`"vehicleRef":"${already}"`); // pseudonymising is idempotent
  });

  it('masks a ref in raw text whose key is written with JSON escapes', async () => {
    const f = fixture(1);
    const raw = '{"eventId":"a","vehicle\\u0052ef":"01KZ777ABC","vehicleRef" : "01KZ999XYZ","note":"vehicleRef","x":"01KZ777ABC-not-a-ref-field"';
    const whole: Outcome = { kind: 'poison', reason: 'invalid_json', issues: [{ path: '', message: 'not JSON' }], crossingId: undefined, payload: raw };
    expect(await settle(f.m, [whole], f.ctx)).toBe('dead-lettered');
    const text = String(f.published[0]!.body.payload);
    expect(text).not.toMatch(/"vehicle\\u0052ef":"01KZ777ABC"/);
    expect(text).not.toContain('01KZ999XYZ');
    expect(text).toContain(`"vehicle\\u0052ef":"${pseudonymise('01KZ777ABC', 'k')}"`);
    expect(text).toContain('"note":"vehicleRef"'); // a value that merely reads vehicleRef is not a key
  });

  it('keeps a one-event message exactly as before: no index, msgID by sequence only', async () => {
    const f = fixture(1);
    const { index: _drop, ...single } = poison(0) as Outcome & { index: number };
    expect(await settle(f.m, [single as Outcome], f.ctx)).toBe('dead-lettered');
    expect(f.published[0]!.msgID).toBe('dlq:T_EVENTS:42'); // no stream creation time known to this context
    expect(f.published[0]!.body).not.toHaveProperty('index');
  });
});
