/**
 * One event message, from bytes to a settled JetStream message: decode -> validate each event against the
 * catalogue -> pseudonymise -> atomic store calls -> `settle`, the estimator's ONE ack policy.
 * A message holds one event (a JSON object) or a batch of events (a JSON array of 1..MAX_EVENTS_PER_MESSAGE events
 * that belong on its subject; the ingest gateway publishes a POSTed batch that way, docs/events.md). Each
 * event of a batch has its own outcome; the message is settled by all of them:
 *   applied / duplicate          -> 'acked': passed by the consumer's next cumulative ack (acks.ts), which is only
 *                                   sent after the Lua call returned
 *   poison (bad JSON, invalid, unknown crossing, too late, eventId conflict) -> dead-letter with reason, then
 *                                   'dead-lettered': passed by the next cumulative ack like an applied one
 *   transient (Redis down, ...)  -> nak with a growing delay ('retried': the cumulative ack stays below it until a
 *                                   redelivery settles); on the last allowed delivery -> dead-letter
 * A dead-letter publish that fails leaves the message unacked (nak), so nothing disappears silently. No `term`:
 * under AckPolicy.All nats-server would take it as an ack of every message below it too.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { MAX_EVENTS_PER_MESSAGE, subjectForEvent, subjects, validateEvent, type EventIssue, type KezekEvent } from '../../shared/events/index.ts';
import type { Catalogue } from '../../shared/catalogue/index.ts';
import { pseudonymise } from '../../shared/privacy.ts';
import { QueueStoreError, type QueueStore } from '../../shared/queue-store/store.ts';

export type DeadLetterReason =
  | 'invalid_json'
  | 'invalid_event'
  | 'unknown_crossing'
  | 'too_late'
  | 'event_id_conflict'
  | 'invalid_record'
  | 'wrong_subject'
  | 'max_deliver_exceeded';

/** What happened to one event; `index` is its position in a batch message (absent for a one-event message). */
export type Outcome =
  | { kind: 'applied' | 'duplicate'; event: KezekEvent; index?: number }
  | { kind: 'poison'; reason: DeadLetterReason; issues: EventIssue[]; crossingId: string | undefined; payload: unknown; index?: number }
  | { kind: 'transient'; error: Error; crossingId: string | undefined; payload: unknown; index?: number };

/** A message's JSON: its events (one for an object), or why the message as a whole is poison. */
export type Decoded = { items: unknown[]; batch: boolean; oversized?: boolean } | { poison: Extract<Outcome, { kind: 'poison' }> };

export type Settlement = 'acked' | 'dead-lettered' | 'retried';

/** What a dead-letter message holds (JSON on `<prefix>.v1.dlq.<crossingId|unknown>`). */
export interface DeadLetter {
  reason: DeadLetterReason;
  issues: EventIssue[];
  subject: string;
  seq: number;
  deliveryCount: number;
  /** The event with its vehicleRef pseudonymised, or the raw text (refs masked) when it was not JSON. */
  payload: unknown;
  /** The event's position in a batch message (absent when the message held one event). */
  index?: number;
  deadLetteredAt: string;
}

export interface MessageContext {
  store: QueueStore;
  catalogue: Catalogue;
  pseudonymKey: string;
  js: JetStreamClient;
  prefix: string;
  maxDeliver: number;
  now?: () => number;
  /**
   * A dead letter the DLQ already held (its msgID names the event: a rebuild or partition replay met the same poison
   * event again, shared/nats.ts DLQ_MAX_AGE_MS): stored once, counted here.
   */
  onLetterAlreadyStored?: () => void;
  /**
   * The events stream's creation time (ms), set once the estimator has looked: part of a dead letter's msgID, since a
   * stream deleted and made again numbers its messages from 1 again, and within the DLQ's 30-day duplicate window a
   * new poison event would otherwise share the msgID of an old, different one and never be stored.
   */
  eventsStreamCreatedMs?: number;
}

const MAX_RAW_CHARS = 16_384;
/** A dead letter larger than this keeps the truncated raw text as payload (NATS max_payload is 1 MiB). */
const MAX_DLQ_CHARS = 256 * 1024;
const decoder = new TextDecoder();

const STORE_POISON: Partial<Record<QueueStoreError['code'], DeadLetterReason>> = {
  TOO_LATE: 'too_late',
  EVENT_ID_CONFLICT: 'event_id_conflict',
  INVALID_RECORD: 'invalid_record',
};

/**
 * Vehicle refs must not reach the DLQ in clear, even inside a payload we could not parse or a batch refused as a
 * whole (both are kept as raw text: decodeMessage).
 */
function maskPayload(value: unknown, key: string): unknown {
  if (typeof value === 'string') {
    // every "<key>": "<value>" pair whose key, once its JSON escapes are undone, is vehicleRef ("vehicle\u0052ef" too)
    return value.slice(0, MAX_RAW_CHARS).replace(/("((?:[^"\\]|\\.)*)"\s*:\s*")((?:[^"\\]|\\.)*)(")/g, (whole, a: string, k: string, ref: string, b: string) =>
      jsonKey(k) === 'vehicleRef' ? `${a}${pseudonymise(ref, key)}${b}` : whole,
    );
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (typeof v.vehicleRef === 'string') return { ...v, vehicleRef: pseudonymise(v.vehicleRef, key) };
  }
  return value;
}

const jsonKey = (escaped: string): string | undefined => {
  if (!escaped.includes('\\')) return escaped;
  try {
    return JSON.parse(`"${escaped}"`) as string;
  } catch {
    return undefined;
  }
};

const crossingOf = (v: unknown): string | undefined =>
  v && typeof v === 'object' && typeof (v as { crossingId?: unknown }).crossingId === 'string' ? (v as { crossingId: string }).crossingId : undefined;

/** Parses a message: a JSON object is one event, a JSON array a batch. Synchronous, never throws. */
export function decodeMessage(m: JsMsg, prefix: string): Decoded {
  const text = decoder.decode(m.data);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { poison: { kind: 'poison', reason: 'invalid_json', issues: [{ path: '', message: `not JSON: ${(err as Error).message}` }], crossingId: undefined, payload: text } };
  }
  if (!Array.isArray(raw)) return { items: [raw], batch: false };
  const crossingId = subjectsOf(prefix).crossingOfEventsSubject(m.subject);
  // a batch refused as a whole is dead-lettered as its raw text (refs masked in it, maskPayload), like bad JSON: its
  // elements can be anything, nested arbitrarily deep
  if (raw.length === 0) {
    return { poison: { kind: 'poison', reason: 'invalid_event', issues: [{ path: '', message: `a batch message holds 1 to ${MAX_EVENTS_PER_MESSAGE} events (got 0)` }], crossingId, payload: text } };
  }
  // an array of anything but event objects is garbage as a whole: one dead letter, not one per element
  const odd = raw.findIndex((item) => item === null || typeof item !== 'object' || Array.isArray(item));
  if (odd >= 0) {
    const message = `a batch message is an array of event objects (element ${odd} is ${raw[odd] === null ? 'null' : Array.isArray(raw[odd]) ? 'an array' : `a ${typeof raw[odd]}`})`;
    return { poison: { kind: 'poison', reason: 'invalid_event', issues: [{ path: String(odd), message }], crossingId, payload: text } };
  }
  // too many events: each is dead-lettered on its own (with its index), so each can be redriven (npm run dlq)
  return { items: raw, batch: true, ...(raw.length > MAX_EVENTS_PER_MESSAGE ? { oversized: true } : {}) };
}

const subjectsByPrefix = new Map<string, ReturnType<typeof subjects>>();
const subjectsOf = (prefix: string) => subjectsByPrefix.get(prefix) ?? subjectsByPrefix.set(prefix, subjects(prefix)).get(prefix)!;

/**
 * Decides what happened to every event of one decoded message, in message order; never throws. The events of a
 * batch are handed to the store together, so they share its apply-events calls (in their order).
 */
export async function processMessage(m: JsMsg, decoded: Decoded, ctx: MessageContext): Promise<Outcome[]> {
  if ('poison' in decoded) return [decoded.poison];
  // every event must belong on the subject it came on: partitioned consumers filter by the crossing in it
  if (!decoded.batch) return [await processEvent(decoded.items[0], ctx, undefined, m.subject)];
  if (decoded.oversized) {
    const n = decoded.items.length;
    const message = `its batch message held ${n} events, at most ${MAX_EVENTS_PER_MESSAGE} are allowed: nothing of it was applied; re-send the events in smaller batches, or redrive each dead letter`;
    return decoded.items.map((item, index) => ({ index, kind: 'poison', reason: 'invalid_event', issues: [{ path: '', message }], crossingId: crossingOf(item), payload: item }));
  }
  return Promise.all(decoded.items.map((item, index) => processEvent(item, ctx, index, m.subject)));
}

/** `subject`: the message's, which the event must belong on. */
async function processEvent(raw: unknown, ctx: MessageContext, index: number | undefined, subject: string): Promise<Outcome> {
  const at = index === undefined ? {} : { index };
  const crossingId = crossingOf(raw);
  // Replays carry old event times: the wall clock only bounds the future (validateEvent's 5-minute skew rule).
  const res = validateEvent(raw, { catalogue: ctx.catalogue, now: (ctx.now ?? Date.now)() });
  if (!res.ok) {
    // unknown_crossing only when the crossing is the event's one problem: redriving it after a catalogue fix then works
    const reason: DeadLetterReason = res.issues.every((i) => i.path === 'crossingId') ? 'unknown_crossing' : 'invalid_event';
    return { ...at, kind: 'poison', reason, issues: res.issues, crossingId, payload: raw };
  }
  const ev = res.event;
  const s = subjectsOf(ctx.prefix);
  const own = subjectForEvent(s, ev);
  if (own !== subject) {
    const issues = [{ path: ev.crossingId === s.crossingOfEventsSubject(subject) ? 'direction' : 'crossingId', message: `belongs on ${own}, but was published on ${subject}: an event goes on the subject of its crossing and direction` }];
    return { ...at, kind: 'poison', reason: 'wrong_subject', issues, crossingId, payload: raw };
  }
  // refs normally arrive pseudonymised already (pseudonymise is then the identity): copy the event only when it changes one
  const ref = 'vehicleRef' in ev ? ev.vehicleRef : undefined;
  const pseudo = ref === undefined ? undefined : pseudonymise(ref, ctx.pseudonymKey);
  const event: KezekEvent = pseudo === ref ? ev : ({ ...ev, vehicleRef: pseudo } as KezekEvent);
  try {
    return { ...at, kind: await ctx.store.applyEvent(event), event };
  } catch (err) {
    if (err instanceof QueueStoreError && STORE_POISON[err.code]) {
      return { ...at, kind: 'poison', reason: STORE_POISON[err.code]!, issues: [{ path: err.code === 'TOO_LATE' ? 'occurredAt' : '', message: err.message }], crossingId, payload: event };
    }
    return { ...at, kind: 'transient', error: err as Error, crossingId, payload: event };
  }
}

/** Delay of the n-th redelivery after a transient failure: 1 s, 2 s, 4 s ... capped at 60 s. */
export const retryDelayMs = (deliveryCount: number): number => Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 60_000);

async function deadLetter(m: JsMsg, ctx: MessageContext, reason: DeadLetterReason, issues: EventIssue[], crossingId: string | undefined, payload: unknown, index: number | undefined) {
  const s = subjectsOf(ctx.prefix);
  const dl: DeadLetter = {
    reason,
    issues,
    subject: m.subject,
    seq: m.info.streamSequence,
    deliveryCount: m.info.deliveryCount,
    payload: maskPayload(payload, ctx.pseudonymKey),
    deadLetteredAt: new Date((ctx.now ?? Date.now)()).toISOString(),
    ...(index === undefined ? {} : { index }),
  };
  // A payload JSON.stringify cannot handle (nesting too deep) or too big for one message would make every publish
  // fail until max_deliver and the message would vanish: keep its (masked, truncated) raw text instead.
  let body: string | undefined;
  try {
    body = JSON.stringify(dl);
  } catch {
    body = undefined;
  }
  if (body === undefined || body.length > MAX_DLQ_CHARS) {
    // the raw text of a batch message would hold every event of it: keep that only when the message is the poison
    const raw = index === undefined ? decoder.decode(m.data) : safeText(payload);
    body = JSON.stringify({ ...dl, payload: maskPayload(raw, ctx.pseudonymKey) });
  }
  // msgID: a redelivered poison message (or event of a batch), or one a rebuild meets again, is stored once in the DLQ
  const ack = await ctx.js.publish(s.dlqFor(crossingId ?? 'unknown'), body, { msgID: deadLetterMsgId(s.eventsStream, ctx.eventsStreamCreatedMs, m.info.streamSequence, index) });
  if (ack.duplicate) ctx.onLetterAlreadyStored?.();
}

/**
 * A dead letter's msgID: the event it holds, by stream (its name and creation time: `dlq:<stream>:<created ms>:<seq>`)
 * and sequence, plus `#<index>` within a batch message. `dlq:<stream>:<seq>` when the creation time is not known.
 */
export function deadLetterMsgId(stream: string, streamCreatedMs: number | undefined, seq: number, index: number | undefined): string {
  return `dlq:${stream}:${streamCreatedMs === undefined ? '' : `${streamCreatedMs}:`}${seq}${index === undefined ? '' : `#${index}`}`;
}

const safeText = (v: unknown): string => {
  try {
    return typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  } catch {
    return String(v);
  }
};

const isBad = (o: Outcome): o is Extract<Outcome, { kind: 'poison' | 'transient' }> => o.kind === 'poison' || o.kind === 'transient';

/**
 * THE ack policy, for every outcome of one message: all applied or duplicate -> 'acked'. A transient failure before
 * the last allowed delivery -> nak the whole message ('retried'; its applied events come back as duplicates). Else
 * every poison event (and, on the last delivery, every transient one) is dead-lettered on its own -> 'dead-lettered',
 * the message's other events stay applied; a dead-letter publish that fails -> nak ('retried').
 */
export async function settle(m: JsMsg, outcomes: readonly Outcome[], ctx: MessageContext): Promise<Settlement> {
  const bad = outcomes.filter(isBad);
  if (bad.length === 0) return 'acked';
  const lastTry = m.info.deliveryCount >= ctx.maxDeliver;
  if (!lastTry && bad.some((o) => o.kind === 'transient')) {
    m.nak(retryDelayMs(m.info.deliveryCount));
    return 'retried';
  }
  try {
    for (const o of bad) {
      const [reason, issues] =
        o.kind === 'poison' ? [o.reason, o.issues] : (['max_deliver_exceeded', [{ path: '', message: o.error.message }]] as [DeadLetterReason, EventIssue[]]);
      await deadLetter(m, ctx, reason, issues, o.crossingId, o.payload, o.index);
    }
  } catch {
    m.nak(retryDelayMs(m.info.deliveryCount));
    return 'retried';
  }
  return 'dead-lettered';
}
