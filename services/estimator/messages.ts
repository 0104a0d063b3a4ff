/**
 * One event message, from bytes to a settled JetStream message: decode -> validate against the catalogue ->
 * pseudonymise -> one atomic store call -> `settle`, the estimator's ONE ack policy:
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
import { subjects, validateEvent, type EventIssue, type KezekEvent } from '../../shared/events/index.ts';
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
  | 'max_deliver_exceeded';

export type Outcome =
  | { kind: 'applied' | 'duplicate'; event: KezekEvent }
  | { kind: 'poison'; reason: DeadLetterReason; issues: EventIssue[]; crossingId: string | undefined; payload: unknown }
  | { kind: 'transient'; error: Error; crossingId: string | undefined; payload: unknown };

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

/** Vehicle refs must not reach the DLQ in clear, even inside a payload we could not parse. */
function maskPayload(value: unknown, key: string): unknown {
  if (typeof value === 'string') {
    return value.slice(0, MAX_RAW_CHARS).replace(/("vehicleRef"\s*:\s*")((?:[^"\\]|\\.)*)(")/g, (_m, a: string, ref: string, b: string) => `${a}${pseudonymise(ref, key)}${b}`);
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (typeof v.vehicleRef === 'string') return { ...v, vehicleRef: pseudonymise(v.vehicleRef, key) };
  }
  return value;
}

const crossingOf = (v: unknown): string | undefined =>
  v && typeof v === 'object' && typeof (v as { crossingId?: unknown }).crossingId === 'string' ? (v as { crossingId: string }).crossingId : undefined;

/** Decides what happened to one message; never throws. */
export async function processMessage(m: JsMsg, ctx: MessageContext): Promise<Outcome> {
  const text = decoder.decode(m.data);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { kind: 'poison', reason: 'invalid_json', issues: [{ path: '', message: `not JSON: ${(err as Error).message}` }], crossingId: undefined, payload: text };
  }
  const crossingId = crossingOf(raw);
  // Replays carry old event times: the wall clock only bounds the future (validateEvent's 5-minute skew rule).
  const res = validateEvent(raw, { catalogue: ctx.catalogue, now: (ctx.now ?? Date.now)() });
  if (!res.ok) {
    const reason: DeadLetterReason = res.issues.some((i) => i.path === 'crossingId') ? 'unknown_crossing' : 'invalid_event';
    return { kind: 'poison', reason, issues: res.issues, crossingId, payload: raw };
  }
  const ev = res.event;
  // refs normally arrive pseudonymised already (pseudonymise is then the identity): copy the event only when it changes one
  const ref = 'vehicleRef' in ev ? ev.vehicleRef : undefined;
  const pseudo = ref === undefined ? undefined : pseudonymise(ref, ctx.pseudonymKey);
  const event: KezekEvent = pseudo === ref ? ev : ({ ...ev, vehicleRef: pseudo } as KezekEvent);
  try {
    return { kind: await ctx.store.applyEvent(event), event };
  } catch (err) {
    if (err instanceof QueueStoreError && STORE_POISON[err.code]) {
      return { kind: 'poison', reason: STORE_POISON[err.code]!, issues: [{ path: err.code === 'TOO_LATE' ? 'occurredAt' : '', message: err.message }], crossingId, payload: event };
    }
    return { kind: 'transient', error: err as Error, crossingId, payload: event };
  }
}

/** Delay of the n-th redelivery after a transient failure: 1 s, 2 s, 4 s ... capped at 60 s. */
export const retryDelayMs = (deliveryCount: number): number => Math.min(1000 * 2 ** Math.max(0, deliveryCount - 1), 60_000);

async function deadLetter(m: JsMsg, ctx: MessageContext, reason: DeadLetterReason, issues: EventIssue[], crossingId: string | undefined, payload: unknown) {
  const s = subjects(ctx.prefix);
  const dl: DeadLetter = {
    reason,
    issues,
    subject: m.subject,
    seq: m.info.streamSequence,
    deliveryCount: m.info.deliveryCount,
    payload: maskPayload(payload, ctx.pseudonymKey),
    deadLetteredAt: new Date((ctx.now ?? Date.now)()).toISOString(),
  };
  // A payload JSON.stringify cannot handle (nesting too deep) or too big for one message would make every publish
  // fail until max_deliver and the message would vanish: keep its (masked, truncated) raw text instead.
  let body: string | undefined;
  try {
    body = JSON.stringify(dl);
  } catch {
    body = undefined;
  }
  if (body === undefined || body.length > MAX_DLQ_CHARS) body = JSON.stringify({ ...dl, payload: maskPayload(decoder.decode(m.data), ctx.pseudonymKey) });
  // msgID: a redelivered poison message is stored once in the DLQ stream
  await ctx.js.publish(s.dlqFor(crossingId ?? 'unknown'), body, { msgID: `dlq:${s.eventsStream}:${m.info.streamSequence}` });
}

/** THE ack policy. */
export async function settle(m: JsMsg, outcome: Outcome, ctx: MessageContext): Promise<Settlement> {
  switch (outcome.kind) {
    case 'applied':
    case 'duplicate':
      return 'acked';
    case 'poison':
    case 'transient': {
      const lastTry = m.info.deliveryCount >= ctx.maxDeliver;
      if (outcome.kind === 'transient' && !lastTry) {
        m.nak(retryDelayMs(m.info.deliveryCount));
        return 'retried';
      }
      const [reason, issues] =
        outcome.kind === 'poison'
          ? [outcome.reason, outcome.issues]
          : (['max_deliver_exceeded', [{ path: '', message: outcome.error.message }]] as [DeadLetterReason, EventIssue[]]);
      try {
        await deadLetter(m, ctx, reason, issues, outcome.crossingId, outcome.payload);
      } catch {
        m.nak(retryDelayMs(m.info.deliveryCount));
        return 'retried';
      }
      return 'dead-lettered';
    }
  }
}
