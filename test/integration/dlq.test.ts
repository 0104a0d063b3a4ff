import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { subjects, type Subjects } from '../../shared/events/index.ts';
import type { DeadLetter, DeadLetterReason } from '../../services/estimator/messages.ts';
import { collectStats, getDeadLetters, listDeadLetters, planRedrive, redrive, scanDeadLetters, formatEntry, formatOutcome, entryJson, type DlqEntry } from '../../services/dlq/dlq.ts';
import { natsUrl, uniquePrefix } from '../helpers/env.ts';

const REF = 'ps1_AAAAAAAAAAAAAAAAAAAAAA';
const T = '2026-11-22T08:15:00+05:00';

interface Env {
  prefix: string;
  s: Subjects;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** DLQ stream sequence of each fixture, by label */
  seq: Record<string, number>;
}

const event = (eventId: string, crossingId = 'korday', extra: Record<string, unknown> = {}) => ({
  eventId,
  type: 'vehicle.arrived',
  crossingId,
  occurredAt: T,
  direction: 'KZ-KG',
  vehicleClass: 'truck',
  vehicleRef: REF,
  ...extra,
});

/** Publishes a dead letter the way services/estimator/messages.ts does (msgID dlq:<events stream>:<seq>). */
async function deadLetter(env: Env, label: string, crossing: string, reason: DeadLetterReason, payload: unknown, eventsSeq: number, subject?: string) {
  const dl: DeadLetter = {
    reason,
    issues: reason === 'too_late' ? [{ path: 'occurredAt', message: 'older than the 7-day retention' }] : [{ path: '', message: `${reason} happened` }],
    subject: subject ?? env.s.eventsFor(crossing, 'KZ-KG'),
    seq: eventsSeq,
    deliveryCount: reason === 'max_deliver_exceeded' ? 10 : 1,
    payload,
    deadLetteredAt: new Date().toISOString(),
  };
  const ack = await env.js.publish(env.s.dlqFor(crossing), JSON.stringify(dl), { msgID: `dlq:${env.s.eventsStream}:${eventsSeq}` });
  env.seq[label] = ack.seq;
}

async function setup(): Promise<Env> {
  const prefix = uniquePrefix();
  const nc = await connectNats({ url: natsUrl(), name: 'dlq-test', maxReconnectAttempts: 0 });
  const jsm = await ensureStreams(nc, { prefix });
  const env: Env = { prefix, s: subjects(prefix), nc, js: jetstream(nc), jsm, seq: {} };
  await deadLetter(env, 'late', 'korday', 'too_late', event('ev-late'), 10);
  await deadLetter(env, 'mde1', 'korday', 'max_deliver_exceeded', event('ev-mde-1'), 11);
  await deadLetter(env, 'raw', 'unknown', 'invalid_json', '{"eventId": "broken", "vehicleRef": "ps1_BBBBBBBBBBBBBBBBBBBBBB"', 12, env.s.eventsFor('korday', 'KZ-KG'));
  await deadLetter(env, 'nowhere', 'nowhere', 'unknown_crossing', event('ev-nowhere', 'nowhere'), 13, env.s.eventsFor('nowhere', 'KZ-KG'));
  // no subject field: the redrive falls back to eventsFor(crossingId, direction)
  await deadLetter(env, 'mde2', 'bakhty', 'max_deliver_exceeded', event('ev-mde-2', 'bakhty', { direction: 'KZ-CN' }), 14, '');
  await deadLetter(env, 'noevent', 'korday', 'invalid_event', { foo: 1 }, 15);
  const garbage = await env.js.publish(env.s.dlqFor('korday'), 'not a dead letter');
  env.seq.garbage = garbage.seq;
  return env;
}

const eventsCount = async (env: Env) => (await env.jsm.streams.info(env.s.eventsStream)).state.messages;
const all = async (env: Env, opts: { crossing?: string; sinceMs?: number } = {}) => listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix, ...opts }), { limit: 0 });

describe('dead-letter queue tool (real NATS)', () => {
  let env: Env;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => {
    await env?.nc.close();
  });

  it('stats counts by reason and crossing, with oldest/newest, and honours --crossing and --since', async () => {
    const st = await collectStats(scanDeadLetters(env.nc, { prefix: env.prefix }));
    expect(st.total).toBe(7);
    expect(st.byReason).toEqual({ too_late: 1, max_deliver_exceeded: 2, invalid_json: 1, unknown_crossing: 1, invalid_event: 1, unreadable: 1 });
    expect(st.byCrossing).toEqual({ korday: 4, unknown: 1, nowhere: 1, bakhty: 1 });
    expect(Date.parse(st.oldest!)).toBeLessThanOrEqual(Date.parse(st.newest!));

    const korday = await collectStats(scanDeadLetters(env.nc, { prefix: env.prefix, crossing: 'korday' }));
    expect(korday.total).toBe(4);
    expect(korday.byCrossing).toEqual({ korday: 4 });

    expect((await collectStats(scanDeadLetters(env.nc, { prefix: env.prefix, sinceMs: Date.now() - 3_600_000 }))).total).toBe(7);
    expect((await collectStats(scanDeadLetters(env.nc, { prefix: env.prefix, sinceMs: Date.now() + 3_600_000 }))).total).toBe(0);
    expect((await collectStats(scanDeadLetters(env.nc, { prefix: env.prefix, crossing: 'no-such-crossing' }))).total).toBe(0);
    // no durable state is left behind
    const consumers = [];
    for await (const c of env.jsm.consumers.list(env.s.dlqStream)) consumers.push(c.name);
    expect(consumers).toEqual([]);
  });

  it('reading stops at the last sequence present when it started', async () => {
    const seen: number[] = [];
    for await (const e of scanDeadLetters(env.nc, { prefix: env.prefix })) {
      seen.push(e.dlqSeq);
      // a dead letter arriving during the read is not waited for (nor read)
      if (seen.length === 1) await env.js.publish(env.s.dlqFor('korday'), JSON.stringify({ reason: 'too_late', issues: [], payload: null }));
    }
    expect(seen).toHaveLength(7);
    // clean up the extra message so the other tests see the fixture only
    const last = (await env.jsm.streams.info(env.s.dlqStream)).state.last_seq;
    await env.jsm.streams.deleteMessage(env.s.dlqStream, last);
  });

  it('list filters by reason and crossing, newest first, with --limit; lines and JSON carry the fields', async () => {
    const reason = await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix }), { reason: 'max_deliver_exceeded' });
    expect(reason.map((e) => e.dlqSeq)).toEqual([env.seq.mde2, env.seq.mde1]);

    const korday = await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix, crossing: 'korday' }), { limit: 2 });
    expect(korday.map((e) => e.dlqSeq)).toEqual([env.seq.garbage, env.seq.noevent]);

    const kordayLate = await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix, crossing: 'korday' }), { reason: 'too_late' });
    expect(kordayLate).toHaveLength(1);
    const line = formatEntry(kordayLate[0]!);
    expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z {2}korday /);
    expect(line).toContain('too_late');
    expect(line).toContain('occurredAt: older than the 7-day retention');
    expect(line).toContain('eventId=ev-late');
    expect(line).toContain('type=vehicle.arrived');
    expect(line).toContain(`seq=${env.seq.late}`);
    const json = JSON.parse(entryJson(kordayLate[0]!)) as DeadLetter & { dlqSeq: number; dlqSubject: string };
    expect(json).toMatchObject({ dlqSeq: env.seq.late, dlqSubject: env.s.dlqFor('korday'), reason: 'too_late', seq: 10, payload: { eventId: 'ev-late', vehicleRef: REF } });

    const unreadable = (await all(env)).find((e) => e.dlqSeq === env.seq.garbage)!;
    expect(formatEntry(unreadable)).toContain('unreadable');
    expect(formatEntry(unreadable)).toContain('not a dead letter: not a dead letter');
  });

  it('redrive --dry-run publishes nothing; redrive publishes under the dead letter\'s own msgID; a second redrive reports duplicate', async () => {
    const selected = (await listDeadLetters(scanDeadLetters(env.nc, { prefix: env.prefix }), { reason: 'max_deliver_exceeded', limit: 0 })).reverse();
    const plans = planRedrive(env.prefix, selected);
    expect(plans.map((p) => (p.action === 'publish' ? p.subject : p.why))).toEqual([env.s.eventsFor('korday', 'KZ-KG'), env.s.eventsFor('bakhty', 'KZ-CN')]);

    const before = await eventsCount(env);
    const dry = await redrive(env.js, plans, { prefix: env.prefix, dryRun: true });
    expect(dry.map((o) => o.status)).toEqual(['would-publish', 'would-publish']);
    expect(await eventsCount(env)).toBe(before);

    const first = await redrive(env.js, plans, { prefix: env.prefix });
    expect(first.map((o) => o.status)).toEqual(['published', 'published']);
    expect(await eventsCount(env)).toBe(before + 2);
    const stored = await env.jsm.streams.getMessage(env.s.eventsStream, { seq: first[0]!.eventsSeq! });
    expect(stored!.subject).toBe(env.s.eventsFor('korday', 'KZ-KG'));
    expect(stored!.header.get('Nats-Msg-Id')).toBe(`redrive:${plans[0]!.entry.dlqSeq}:ev-mde-1`);
    expect(stored!.json()).toEqual(event('ev-mde-1'));

    const second = await redrive(env.js, plans, { prefix: env.prefix });
    expect(second.map((o) => o.status)).toEqual(['duplicate', 'duplicate']);
    expect(second[0]!.eventsSeq).toBe(first[0]!.eventsSeq);
    expect(formatOutcome(second[0]!)).toContain('an earlier redrive of this dead letter');
    expect(await eventsCount(env)).toBe(before + 2);
    // dead letters are not deleted
    expect(await all(env)).toHaveLength(7);
  });

  it('redrives an event to its own subject, not the one it came on (a batch\'s, or a wrong one), and lists its index', () => {
    const letter: DeadLetter = {
      reason: 'wrong_subject',
      issues: [{ path: 'crossingId', message: `belongs on ${env.s.eventsFor('zhibek-zholy', 'KZ-UZ')}, but was published on ${env.s.eventsFor('korday', 'KZ-KG')}: an event goes on the subject of its crossing and direction` }],
      subject: env.s.eventsFor('korday', 'KZ-KG'),
      seq: 41,
      deliveryCount: 1,
      payload: event('ev-batch-2', 'zhibek-zholy', { direction: 'KZ-UZ', vehicleClass: 'car' }),
      deadLetteredAt: T,
      index: 2,
    };
    const entry: DlqEntry = { dlqSeq: 500, dlqSubject: env.s.dlqFor('zhibek-zholy'), crossing: 'zhibek-zholy', time: '2026-11-22T03:15:00.000Z', letter };
    const [plan] = planRedrive(env.prefix, [entry]);
    expect(plan).toMatchObject({ action: 'publish', subject: env.s.eventsFor('zhibek-zholy', 'KZ-UZ'), eventId: 'ev-batch-2' });
    expect(formatEntry(entry)).toMatch(/wrong_subject .*eventId=ev-batch-2 .*index=2 .*seq=500/);
    expect(formatEntry(entry)).toContain(`published on ${env.s.eventsFor('korday', 'KZ-KG')}`); // the useful half is not cut off
    // a one-event letter too: the event's own subject; the letter's only when the event's fields cannot name one
    const { index: _i, ...single } = letter;
    expect(planRedrive(env.prefix, [{ ...entry, letter: single }])[0]).toMatchObject({ subject: env.s.eventsFor('zhibek-zholy', 'KZ-UZ') });
    const unusable = { ...single, reason: 'unknown_crossing' as const, payload: event('ev-batch-3', 'Not A Crossing!') };
    expect(planRedrive(env.prefix, [{ ...entry, letter: unusable }])[0]).toMatchObject({ subject: env.s.eventsFor('korday', 'KZ-KG') });
  });

  it('skips raw text, non-events and unreadable messages; --seq selection reports missing sequences', async () => {
    const { entries, missing } = await getDeadLetters(env.nc, env.prefix, [env.seq.raw!, env.seq.noevent!, env.seq.garbage!, 99_999]);
    expect(missing).toEqual([99_999]);
    const outcomes = await redrive(env.js, planRedrive(env.prefix, entries), { prefix: env.prefix });
    expect(outcomes.map((o) => [o.status, o.detail])).toEqual([
      ['skipped', expect.stringMatching(/^raw text/)],
      ['skipped', expect.stringMatching(/^not an event/)],
      ['skipped', expect.stringMatching(/^not a dead letter/)],
    ]);
  });

  it('a redrive right after an outage reaches the stream although the original event is inside the 2 h duplicate window', async () => {
    // the original as producers publish it (msgID = eventId), then its dead letter pointing at that events seq
    const original = await env.js.publish(env.s.eventsFor('korday', 'KZ-KG'), JSON.stringify(event('ev-recent')), { msgID: 'ev-recent' });
    const extra: Env = { ...env, seq: {} };
    await deadLetter(extra, 'recent', 'korday', 'max_deliver_exceeded', event('ev-recent'), original.seq);
    try {
      const { entries } = await getDeadLetters(env.nc, env.prefix, [extra.seq.recent!]);
      const [o] = await redrive(env.js, planRedrive(env.prefix, entries), { prefix: env.prefix });
      expect(o!.status).toBe('published');
      expect(o!.eventsSeq).toBeGreaterThan(original.seq);
      const stored = await env.jsm.streams.getMessage(env.s.eventsStream, { seq: o!.eventsSeq! });
      expect(stored!.json()).toEqual(event('ev-recent'));
    } finally {
      await env.jsm.streams.deleteMessage(env.s.dlqStream, extra.seq.recent!);
    }
  });

  it('a missing DLQ stream is a clear error', async () => {
    const nope = uniquePrefix();
    await expect(collectStats(scanDeadLetters(env.nc, { prefix: nope }))).rejects.toThrow(`stream ${nope.toUpperCase()}_DLQ not found`);
  });

  it('plans skip a second dead letter of the same eventId', () => {
    const mk = (dlqSeq: number): DlqEntry => ({
      dlqSeq,
      dlqSubject: 'x',
      crossing: 'korday',
      time: new Date().toISOString(),
      letter: { reason: 'max_deliver_exceeded', issues: [], subject: 'kezek.v1.events.korday.KZ-KG', seq: 1, deliveryCount: 1, payload: event('same'), deadLetteredAt: '' },
    });
    const plans = planRedrive('kezek', [mk(1), mk(2)]);
    expect(plans.map((p) => p.action)).toEqual(['publish', 'skip']);
  });

  describe('CLI (child process)', () => {
    const run = (args: string[], extraEnv: Record<string, string> = {}) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'services/dlq/main.ts', ...args], {
        env: { ...process.env, NATS_URL: natsUrl(), KEZEK_PREFIX: env.prefix, LOG_LEVEL: 'warn', ...extraEnv },
        encoding: 'utf8',
        timeout: 60_000,
      });

    it('--help lists every option, the environment and exit codes', () => {
      const r = run(['--help']);
      expect(r.status).toBe(0);
      for (const word of ['stats', 'list', 'redrive', '--crossing', '--since', '--reason', '--limit', '--json', '--seq', '--dry-run', '--yes', 'NATS_URL', 'NATS_USER', 'NATS_PASSWORD', 'NATS_INBOX_PREFIX', 'KEZEK_PREFIX', 'Exit codes', 'Examples']) {
        expect(r.stdout).toContain(word);
      }
    });

    it('usage errors exit 2 naming the flag; redrive without --yes on a non-terminal is refused', () => {
      const bad = run(['list', '--limit', 'ten']);
      expect(bad.status).toBe(2);
      expect(bad.stderr).toContain('--limit');
      const wrong = run(['stats', '--seq', '3']);
      expect(wrong.status).toBe(2);
      expect(wrong.stderr).toContain('--seq is not an option of stats');
      const noYes = run(['redrive', '--reason', 'max_deliver_exceeded']);
      expect(noYes.status).toBe(2);
      expect(noYes.stderr).toMatch(/stdin is not a terminal: add --yes/);
      expect(run([]).status).toBe(2);
      const negative = run(['list', '--limit', '-3']);
      expect(negative.status).toBe(2);
      expect(negative.stderr).toMatch(/^dlq: --limit must be a whole number \(0 = all\), got "-3"\n/);
      const unknownOption = run(['list', '--bogus']);
      expect(unknownOption.stderr).toMatch(/^dlq: unknown option --bogus\n/);
      const crossing = run(['list', '--crossing', 'atlantis']);
      expect(crossing.status).toBe(0);
      expect(crossing.stderr).toMatch(/^dlq: note: --crossing "atlantis" is not a crossing of the catalogue \(korday, .*\): showing its DLQ subject anyway\n/);
    });

    it('list: a header line; when --limit cut the list, a last line on stderr says how many match (--json stdout stays NDJSON)', () => {
      const human = run(['list', '--limit', '2']);
      expect(human.status).toBe(0);
      const lines = human.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^time +crossing +reason +first issue/);
      expect(lines.slice(1).map((l) => /seq=(\d+)$/.exec(l)?.[1])).toEqual([String(env.seq.garbage), String(env.seq.noevent)]);
      expect(human.stderr).toBe('dlq: 2 of 7 matching dead letters shown (newest first); --limit 0 for all\n');

      const json = run(['list', '--limit', '2', '--json']);
      expect(json.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { dlqSeq: number }).dlqSeq)).toEqual([env.seq.garbage, env.seq.noevent]);
      expect(json.stderr).toBe('dlq: 2 of 7 matching dead letters shown (newest first); --limit 0 for all\n');

      const all = run(['list', '--limit', '0', '--reason', 'max_deliver_exceeded']);
      expect(all.stdout.trim().split('\n')).toHaveLength(3); // header + 2
      expect(all.stderr).toBe('');
    });

    it('unreachable NATS: one line naming NATS_URL, exit 3', () => {
      const r = run(['stats'], { NATS_URL: 'nats://127.0.0.1:1' });
      expect(r.status).toBe(3);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/NATS_URL/);
      expect(lines[0]).toContain('nats://127.0.0.1:1');
    });

    it('stats, list --json and redrive --seq --yes against the real server', () => {
      const stats = run(['stats']);
      expect(stats.status).toBe(0);
      expect(stats.stdout).toMatch(/_DLQ: 7 dead letters/);
      expect(stats.stdout).toMatch(/max_deliver_exceeded\s+2/);

      const list = run(['list', '--reason', 'too_late', '--json']);
      expect(list.status).toBe(0);
      const rows = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { dlqSeq: number; reason: string });
      expect(rows).toEqual([expect.objectContaining({ dlqSeq: env.seq.late, reason: 'too_late' })]);

      const r = run(['redrive', '--seq', `${env.seq.late},${env.seq.raw}`, '--yes']);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`seq=${env.seq.late} .*eventId=ev-late .*: published`));
      expect(r.stdout).toMatch(new RegExp(`seq=${env.seq.raw} .*skipped: raw text`));
      expect(r.stdout).toMatch(/1 published, 0 duplicate, 1 skipped, 0 failed of 2/);

      const missing = run(['redrive', '--seq', '99999', '--dry-run']);
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain('seq=99999: not in');
    });
  });
});
