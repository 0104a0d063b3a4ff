/**
 * Dead-letter queue tooling: read the `<PREFIX>_DLQ` stream without leaving state behind, count, list, and re-publish
 * (redrive) dead-lettered events to the events stream. The CLI is main.ts; this module is what the tests drive.
 *
 * Reading uses an ordered consumer (ephemeral, in memory, no acks; deleted when done) that starts at `--since` (the
 * DLQ's storage time) and stops at the stream's last sequence as read from the stream info before the consumer is
 * created, so a command always ends even while the estimator keeps dead-lettering.
 */
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { subjects } from '../../shared/events/subjects.ts';
import type { DeadLetter, DeadLetterReason } from '../estimator/messages.ts';

/** Every reason the estimator writes (services/estimator/messages.ts), with what it means for a redrive. */
export const DEAD_LETTER_REASONS: Record<DeadLetterReason, string> = {
  invalid_json: 'the message was not JSON (payload is its raw text: cannot be redriven)',
  invalid_event: 'failed contract validation (a redrive is rejected again unless the catalogue/contract changed)',
  unknown_crossing: 'crossingId not in the catalogue (redrive after adding the crossing)',
  too_late: 'older than the queue store retention (a redrive is rejected again)',
  event_id_conflict: 'eventId already used by a different event (a redrive is rejected again)',
  invalid_record: 'the queue store refused the record',
  wrong_subject: 'published on the subject of another crossing or direction (redriven to its own subject)',
  max_deliver_exceeded: 'transient failures (e.g. Redis down) until max deliveries: redrive after the outage',
};
/** Pseudo-reason of a DLQ message that is not a dead letter at all (not JSON, or no `reason`). */
export const UNREADABLE = 'unreadable';
export const REASON_FILTERS: readonly string[] = [...Object.keys(DEAD_LETTER_REASONS), UNREADABLE];

/** A problem the operator must fix (missing stream, permissions): the CLI prints the message without a stack. */
export class DlqError extends Error {
  override readonly name = 'DlqError';
}

const CROSSING_RE = /^[a-z0-9-]{1,64}$/;
const DIRECTION_RE = /^[A-Z]{2}-[A-Z]{2}$/;
// eventId rules of the contract (shared/events/v1.ts): 1-128 characters, no control characters
// eslint-disable-next-line no-control-regex
const EVENT_ID_RE = /^[^\u0000-\u001f\u007f]{1,128}$/;

export const isCrossingToken = (s: string): boolean => CROSSING_RE.test(s);

/** One message of the DLQ stream. */
export interface DlqEntry {
  /** Sequence in the DLQ stream: what `redrive --seq` takes (not the events-stream `letter.seq`). */
  dlqSeq: number;
  dlqSubject: string;
  /** Crossing token of the DLQ subject (`unknown` when the event named none or an unusable one). */
  crossing: string;
  /** deadLetteredAt when valid, else when the DLQ stored the message (ISO-8601). */
  time: string;
  /** The dead letter; absent when the message is not one (then `raw` holds its text). */
  letter?: DeadLetter;
  raw?: string;
}

const decoder = new TextDecoder();

export function toEntry(prefix: string, msg: { seq: number; subject: string; data: Uint8Array; time: Date }): DlqEntry {
  const dlqBase = `${prefix}.v1.dlq.`;
  const crossing = msg.subject.startsWith(dlqBase) ? msg.subject.slice(dlqBase.length) : msg.subject;
  const text = decoder.decode(msg.data);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const base = { dlqSeq: msg.seq, dlqSubject: msg.subject, crossing };
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed) || typeof (parsed as { reason?: unknown }).reason !== 'string') {
    return { ...base, time: msg.time.toISOString(), raw: text };
  }
  const l = parsed as Partial<DeadLetter>;
  const letter = { ...l, issues: Array.isArray(l.issues) ? l.issues : [] } as DeadLetter;
  const at = typeof l.deadLetteredAt === 'string' ? Date.parse(l.deadLetteredAt) : NaN;
  return { ...base, time: Number.isFinite(at) ? new Date(at).toISOString() : msg.time.toISOString(), letter };
}

export const reasonOf = (e: DlqEntry): string => e.letter?.reason ?? UNREADABLE;

/** The payload as an event-looking object (JSON object with a usable eventId), else undefined. */
function eventOf(e: DlqEntry): Record<string, unknown> | undefined {
  const p = e.letter?.payload;
  if (!p || typeof p !== 'object' || Array.isArray(p)) return undefined;
  const ev = p as Record<string, unknown>;
  return typeof ev.eventId === 'string' && EVENT_ID_RE.test(ev.eventId) ? ev : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// reading

export interface ScanOptions {
  prefix: string;
  /** Only this crossing's subject (`<prefix>.v1.dlq.<crossing>`). */
  crossing?: string;
  /** Only messages the DLQ stored at or after this time (ms since the epoch). */
  sinceMs?: number;
  /** Called after each message: read so far, and how many matched the filter when reading started. */
  onProgress?: (read: number, total: number) => void;
  /** Give up when no message arrives for this long while more are expected (default 15 s). */
  idleTimeoutMs?: number;
}

function isStreamNotFound(err: unknown): boolean {
  return (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) || /stream not found/i.test((err as Error)?.message ?? '');
}

async function streamLastSeq(jsm: JetStreamManager, stream: string, prefix: string): Promise<{ lastSeq: number; messages: number }> {
  try {
    const info = await jsm.streams.info(stream);
    return { lastSeq: info.state.last_seq, messages: info.state.messages };
  } catch (err) {
    if (isStreamNotFound(err)) throw new DlqError(`stream ${stream} not found: no Kezek service has run with KEZEK_PREFIX=${prefix} on this NATS server`);
    throw err;
  }
}

/**
 * Every dead letter matching the filter, oldest first (DLQ stream order). Ends at the stream's last sequence when it
 * was called. Breaking out of the loop early is fine: the consumer is removed either way.
 */
export async function* scanDeadLetters(nc: NatsConnection, opts: ScanOptions): AsyncGenerator<DlqEntry> {
  const s = subjects(opts.prefix);
  const jsm = await jetstreamManager(nc);
  const { lastSeq, messages: stored } = await streamLastSeq(jsm, s.dlqStream, opts.prefix);
  if (stored === 0) return;
  const consumer = await jetstream(nc).consumers.get(s.dlqStream, {
    filter_subjects: opts.crossing ? s.dlqFor(opts.crossing) : s.dlqAll,
    ...(opts.sinceMs !== undefined ? { opt_start_time: new Date(opts.sinceMs).toISOString() } : {}),
  });
  try {
    const total = (await consumer.info(true)).num_pending;
    if (total === 0) return;
    const iter = await consumer.consume({ max_messages: 256 });
    const idleMs = opts.idleTimeoutMs ?? 15_000;
    let stalled = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        iter.stop();
      }, idleMs);
    };
    let read = 0;
    arm();
    try {
      for await (const m of iter) {
        if (m.seq > lastSeq) break;
        clearTimeout(timer);
        read++;
        yield toEntry(opts.prefix, m);
        opts.onProgress?.(read, total);
        if (m.seq >= lastSeq || m.info.pending === 0) break;
        arm();
      }
    } finally {
      clearTimeout(timer);
      await iter.close().catch(() => undefined);
    }
    if (stalled) throw new DlqError(`reading ${s.dlqStream} stalled: no message for ${Math.round(idleMs / 1000)} s after ${read} of ${total}`);
  } finally {
    await consumer.delete().catch(() => undefined);
  }
}

/** The DLQ messages with these stream sequences (direct gets: no consumer), and the sequences that are not there. */
export async function getDeadLetters(nc: NatsConnection, prefix: string, seqs: readonly number[]): Promise<{ entries: DlqEntry[]; missing: number[] }> {
  const s = subjects(prefix);
  const jsm = await jetstreamManager(nc);
  await streamLastSeq(jsm, s.dlqStream, prefix);
  const entries: DlqEntry[] = [];
  const missing: number[] = [];
  for (const seq of seqs) {
    const m = await jsm.streams.getMessage(s.dlqStream, { seq });
    if (m) entries.push(toEntry(prefix, m));
    else missing.push(seq);
  }
  return { entries, missing };
}

// ---------------------------------------------------------------------------------------------------------------
// stats and list

export interface DlqStats {
  total: number;
  byReason: Record<string, number>;
  byCrossing: Record<string, number>;
  oldest?: string;
  newest?: string;
}

export const emptyStats = (): DlqStats => ({ total: 0, byReason: {}, byCrossing: {} });

export function addToStats(st: DlqStats, e: DlqEntry): DlqStats {
  st.total++;
  const r = reasonOf(e);
  st.byReason[r] = (st.byReason[r] ?? 0) + 1;
  st.byCrossing[e.crossing] = (st.byCrossing[e.crossing] ?? 0) + 1;
  if (!st.oldest || e.time < st.oldest) st.oldest = e.time;
  if (!st.newest || e.time > st.newest) st.newest = e.time;
  return st;
}

export async function collectStats(entries: AsyncIterable<DlqEntry>): Promise<DlqStats> {
  const st = emptyStats();
  for await (const e of entries) addToStats(st, e);
  return st;
}

export interface ListFilter {
  reason?: string;
  /** Keep the newest `limit` matches; 0 = all. */
  limit?: number;
}

/**
 * The newest `limit` entries matching `reason`, NEWEST FIRST (highest DLQ sequence first), and how many matched in
 * all: `list` says so when the limit cut the list.
 */
export async function selectDeadLetters(entries: AsyncIterable<DlqEntry>, f: ListFilter = {}): Promise<{ entries: DlqEntry[]; matched: number }> {
  const limit = f.limit ?? 20;
  const kept: DlqEntry[] = [];
  let matched = 0;
  for await (const e of entries) {
    if (f.reason && reasonOf(e) !== f.reason) continue;
    matched++;
    kept.push(e);
    if (limit > 0 && kept.length > limit) kept.shift();
  }
  return { entries: kept.reverse(), matched };
}

/** The newest `limit` entries matching `reason`, NEWEST FIRST (highest DLQ sequence first). */
export async function listDeadLetters(entries: AsyncIterable<DlqEntry>, f: ListFilter = {}): Promise<DlqEntry[]> {
  return (await selectDeadLetters(entries, f)).entries;
}

/** The line under the list when `--limit` left some out (stderr: not part of the --json NDJSON); '' when none. */
export function listCutNote(shown: number, matched: number): string {
  if (shown >= matched) return '';
  return `${shown} of ${matched} matching dead letters shown (newest first); --limit 0 for all`;
}

const oneLine = (s: string, max: number): string => {
  const flat = s.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

const TIME_WIDTH = 20; // 2026-11-22T03:15:04Z
const CROSSING_WIDTH = 14;
const REASON_WIDTH = 20;

/** The column header of the human `list` output, aligned with formatEntry. */
export const LIST_HEADER = ['time'.padEnd(TIME_WIDTH), 'crossing'.padEnd(CROSSING_WIDTH), 'reason'.padEnd(REASON_WIDTH), 'first issue  eventId= type= [index=]  seq=<DLQ seq>'].join('  ');

/** `time  crossing  reason  first issue  eventId=… type=… [index=<in its batch message>]  seq=<dlq seq>` */
export function formatEntry(e: DlqEntry): string {
  const time = e.time.replace(/\.\d{3}Z$/, 'Z');
  const l = e.letter;
  const issue = l?.issues[0];
  const issueText = issue ? (issue.path ? `${issue.path}: ${issue.message}` : String(issue.message)) : l ? '-' : `not a dead letter: ${e.raw ?? ''}`;
  const ev = l?.payload && typeof l.payload === 'object' && !Array.isArray(l.payload) ? (l.payload as Record<string, unknown>) : undefined;
  const ids = [
    typeof ev?.eventId === 'string' ? `eventId=${oneLine(ev.eventId, 64)}` : undefined,
    typeof ev?.type === 'string' ? `type=${oneLine(ev.type, 40)}` : undefined,
    typeof l?.payload === 'string' ? 'payload=raw-text' : undefined,
    typeof l?.index === 'number' ? `index=${l.index}` : undefined,
  ].filter(Boolean);
  return [time.padEnd(TIME_WIDTH), e.crossing.padEnd(CROSSING_WIDTH), reasonOf(e).padEnd(REASON_WIDTH), oneLine(issueText, 200), ...ids, `seq=${e.dlqSeq}`].join('  ');
}

/** The `--json` line: the dead letter as stored, plus where it is in the DLQ. */
export function entryJson(e: DlqEntry): string {
  return JSON.stringify(e.letter ? { dlqSeq: e.dlqSeq, dlqSubject: e.dlqSubject, ...e.letter } : { dlqSeq: e.dlqSeq, dlqSubject: e.dlqSubject, storedAt: e.time, raw: e.raw });
}

// ---------------------------------------------------------------------------------------------------------------
// redrive

export type RedrivePlan =
  | { entry: DlqEntry; action: 'publish'; subject: string; eventId: string; body: string }
  | { entry: DlqEntry; action: 'skip'; why: string };

/** Decides, for each dead letter, whether and where its payload would be re-published. Pure. */
export function planRedrive(prefix: string, entries: readonly DlqEntry[]): RedrivePlan[] {
  const s = subjects(prefix);
  const eventsBase = `${prefix}.v1.events.`;
  const seen = new Map<string, number>();
  return entries.map((entry): RedrivePlan => {
    const l = entry.letter;
    if (!l) return { entry, action: 'skip', why: 'not a dead letter (unreadable DLQ message)' };
    if (typeof l.payload === 'string') return { entry, action: 'skip', why: 'raw text (the message was not JSON, or too large to keep parsed)' };
    const ev = eventOf(entry);
    if (!ev) return { entry, action: 'skip', why: 'not an event (payload is not a JSON object with an eventId)' };
    const eventId = ev.eventId as string;
    // the event's own subject (the estimator refuses an event on any other: wrong_subject); the letter's only when the
    // event's crossingId/direction cannot give one (an event that will be refused again, unless the contract changed)
    let subject: string | undefined;
    if (typeof ev.crossingId === 'string' && CROSSING_RE.test(ev.crossingId) && (ev.direction === undefined || (typeof ev.direction === 'string' && DIRECTION_RE.test(ev.direction)))) {
      subject = s.eventsFor(ev.crossingId, ev.direction as string | undefined);
    } else if (typeof l.subject === 'string' && l.subject.startsWith(eventsBase) && /^[^\s*>]+$/.test(l.subject)) subject = l.subject;
    if (!subject) return { entry, action: 'skip', why: `no events subject (the subject field is not under ${eventsBase} and crossingId/direction are unusable)` };
    const first = seen.get(eventId);
    if (first !== undefined) return { entry, action: 'skip', why: `same eventId as seq=${first} in this redrive` };
    seen.set(eventId, entry.dlqSeq);
    return { entry, action: 'publish', subject, eventId, body: JSON.stringify(ev) };
  });
}

export type RedriveStatus = 'published' | 'duplicate' | 'would-publish' | 'skipped' | 'failed';

export interface RedriveOutcome {
  plan: RedrivePlan;
  status: RedriveStatus;
  /** Sequence in the events stream: of the new message, or for a duplicate of the one JetStream already holds. */
  eventsSeq?: number;
  detail?: string;
}

export interface RedriveOptions {
  prefix: string;
  dryRun?: boolean;
  onOutcome?: (o: RedriveOutcome) => void;
  /** PubAck timeout per event (default 10 s). */
  timeoutMs?: number;
}

/** The msgID of a redrive: one per dead letter (its DLQ sequence), never the eventId. */
export const redriveMsgId = (plan: Extract<RedrivePlan, { action: 'publish' }>): string => `redrive:${plan.entry.dlqSeq}:${plan.eventId}`;

/**
 * Re-publishes each planned payload to its events subject, expecting the events stream to store it. The msgID is the
 * dead letter's own (`redriveMsgId`), not the eventId: the original event, published with msgID = eventId, would
 * still be inside JetStream's 2 h duplicate window right after a short outage, and a redrive under its id would be
 * swallowed. Redriving the same letter again within 2 h is reported `duplicate`; after that the estimator, which
 * applies an eventId at most once, makes it a no-op. Dead letters are never deleted.
 */
export async function redrive(js: JetStreamClient, plans: readonly RedrivePlan[], opts: RedriveOptions): Promise<RedriveOutcome[]> {
  const streamName = subjects(opts.prefix).eventsStream;
  const out: RedriveOutcome[] = [];
  for (const plan of plans) {
    let o: RedriveOutcome;
    if (plan.action === 'skip') o = { plan, status: 'skipped', detail: plan.why };
    else if (opts.dryRun) o = { plan, status: 'would-publish' };
    else {
      try {
        const ack = await js.publish(plan.subject, plan.body, { msgID: redriveMsgId(plan), expect: { streamName }, timeout: opts.timeoutMs ?? 10_000 });
        o = { plan, status: ack.duplicate ? 'duplicate' : 'published', eventsSeq: ack.seq };
      } catch (err) {
        o = { plan, status: 'failed', detail: (err as Error).message };
      }
    }
    out.push(o);
    opts.onOutcome?.(o);
  }
  return out;
}

export function formatOutcome(o: RedriveOutcome): string {
  const e = o.plan.entry;
  const head = `seq=${e.dlqSeq}  ${e.crossing}  ${reasonOf(e)}`;
  if (o.plan.action === 'skip') return `${head}: skipped: ${o.detail}`;
  const ev = eventOf(e);
  const what = `eventId=${oneLine(o.plan.eventId, 64)}${typeof ev?.type === 'string' ? ` type=${ev.type}` : ''} -> ${o.plan.subject}`;
  switch (o.status) {
    case 'published':
      return `${head}  ${what}: published (events seq ${o.eventsSeq})`;
    case 'duplicate':
      return `${head}  ${what}: duplicate (an earlier redrive of this dead letter is events seq ${o.eventsSeq}; nothing stored)`;
    case 'would-publish':
      return `${head}  ${what}: would publish (dry run)`;
    default:
      return `${head}  ${what}: failed: ${o.detail}`;
  }
}

export function countOutcomes(outcomes: readonly RedriveOutcome[]): Record<RedriveStatus, number> {
  const c: Record<RedriveStatus, number> = { published: 0, duplicate: 0, 'would-publish': 0, skipped: 0, failed: 0 };
  for (const o of outcomes) c[o.status]++;
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// arguments

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const ISO_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** `--since`: a duration back from now (`90s`, `30m`, `24h`, `7d`, `2w`) or an ISO time with offset / a UTC date. */
export function parseSince(value: string, now = Date.now()): number | undefined {
  const d = /^(\d+)([smhdw])$/.exec(value.trim());
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]!]!;
  if (!ISO_RE.test(value.trim())) return undefined;
  const t = Date.parse(value.trim().length === 10 ? `${value.trim()}T00:00:00Z` : value.trim());
  return Number.isFinite(t) ? t : undefined;
}

/** `--seq 3,5 --seq 9` -> [3, 5, 9] (deduplicated, in order), or undefined if any is not a positive integer. */
export function parseSeqs(values: readonly string[]): number[] | undefined {
  const out: number[] = [];
  for (const part of values.flatMap((v) => v.split(','))) {
    const t = part.trim();
    if (!/^\d{1,15}$/.test(t) || Number(t) < 1) return undefined;
    if (!out.includes(Number(t))) out.push(Number(t));
  }
  return out.length ? out : undefined;
}
