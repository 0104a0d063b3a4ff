/**
 * services/estimator/acks.ts CumulativeAcks: the cumulative ack never passes a message that is not settled ok,
 * and stops for good once a delivery was lost. Messages are plain objects with the two fields the tracker reads
 * (stream sequence and delivery sequence); what JetStream does with the ack is tested against a real
 * nats-server in test/integration/cumulative-ack.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsMsg } from '@nats-io/jetstream';
import { CumulativeAcks } from '../../services/estimator/acks.ts';

const msg = (seq: number, delivery: number, deliveryCount = 1) => ({ seq, info: { deliverySequence: delivery, deliveryCount } }) as unknown as JsMsg;

describe('CumulativeAcks', () => {
  it('acks the highest settled message once everything below is settled ok', () => {
    const a = new CumulativeAcks(1);
    const ms = [1, 2, 3].map((s) => msg(s, s));
    for (const m of ms) a.delivered(m);
    a.settled(ms[2]!, true);
    a.settled(ms[0]!, true);
    a.settled(ms[1]!, true);
    expect(a.take()?.seq).toBe(3);
    expect(a.take()).toBeUndefined(); // nothing new since
  });

  it('stays below a nak-ed (or failed) message until a redelivery of it settles ok', () => {
    const a = new CumulativeAcks(1);
    const ms = [1, 2, 3, 4].map((s) => msg(s, s));
    for (const m of ms) a.delivered(m);
    a.settled(ms[0]!, true);
    a.settled(ms[1]!, false);
    a.settled(ms[2]!, true);
    a.settled(ms[3]!, true);
    expect(a.outstanding).toBe(1);
    expect(a.take()?.seq).toBe(1);
    expect(a.take()).toBeUndefined();
    const again = msg(2, 5); // the redelivery: a new delivery sequence
    a.delivered(again);
    a.settled(again, true);
    expect(a.outstanding).toBe(0);
    expect(a.take()?.seq).toBe(4);
    expect(a.lost).toBe(false);
  });

  it('a failing redelivery of a message already acked does not hold the ack point (the server would ignore its nak)', () => {
    const a = new CumulativeAcks(1);
    const ms = [1, 2, 3].map((s) => msg(s, s));
    for (const m of ms) {
      a.delivered(m);
      a.settled(m, true);
    }
    expect(a.take()?.seq).toBe(3);
    const late = msg(2, 4); // redelivered (ack_wait) before the server saw the ack, and its handling failed
    a.delivered(late);
    a.settled(late, false);
    expect(a.outstanding).toBe(0);
    const next = msg(4, 5);
    a.delivered(next);
    a.settled(next, true);
    expect(a.take()?.seq).toBe(4);
  });

  it('acks nothing more once a delivery sequence is skipped (a delivery was lost)', () => {
    const a = new CumulativeAcks(1);
    const m1 = msg(1, 1);
    const m3 = msg(3, 3); // delivery 2 never arrived
    a.delivered(m1);
    a.settled(m1, true);
    a.delivered(m3);
    a.settled(m3, true);
    expect(a.lost).toBe(true);
    expect(a.take()).toBeUndefined();
  });

  it('a message settled not ok on its last allowed delivery strands the consumer: nothing more is acked', () => {
    const a = new CumulativeAcks(1, 3);
    const ms = [1, 2, 3].map((s) => msg(s, s));
    for (const m of ms) a.delivered(m);
    a.settled(ms[0]!, true);
    a.settled(ms[1]!, false); // first delivery failed: the server delivers it again
    a.settled(ms[2]!, true);
    expect(a.stranded).toBe(false);
    expect(a.take()?.seq).toBe(1);
    const second = msg(2, 4, 2);
    a.delivered(second);
    a.settled(second, false);
    expect(a.stranded).toBe(false); // one delivery left
    const last = msg(2, 5, 3);
    a.delivered(last);
    a.settled(last, false); // the server will not deliver seq 2 again
    expect(a.stranded).toBe(true);
    const after = msg(4, 6);
    a.delivered(after);
    a.settled(after, true);
    expect(a.take()).toBeUndefined();
    expect(a.lost).toBe(false);
  });

  it('a message settled ok on its last allowed delivery does not strand the consumer', () => {
    const a = new CumulativeAcks(1, 2);
    const m = msg(1, 1, 2);
    a.delivered(m);
    a.settled(m, true);
    expect(a.stranded).toBe(false);
    expect(a.take()?.seq).toBe(1);
  });

  it('a consumer that starts afresh (delivery 1 again) also counts as lost', () => {
    const a = new CumulativeAcks(7);
    a.delivered(msg(10, 1));
    expect(a.lost).toBe(true);
  });

  it('property: an ack never passes a message that is not settled ok at that moment', () => {
    // random deliveries of seqs 1..n with random failures and redeliveries, acks taken at random points
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.tuple(fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 200 }), fc.integer(), (n, steps, seed) => {
        const a = new CumulativeAcks(1);
        let delivery = 1;
        let next = 1; // next new seq
        const state = new Map<number, 'ok' | 'failed'>();
        const failedQueue: number[] = [];
        let acked = 0;
        let r = seed;
        const rand = () => ((r = (r * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
        for (const [fail, takeNow] of steps) {
          // deliver a redelivery of a failed message, or the next new one
          let seq: number;
          if (failedQueue.length > 0 && (next > n || rand() < 0.5)) seq = failedQueue.shift()!;
          else if (next <= n) seq = next++;
          else break;
          const m = msg(seq, delivery++);
          a.delivered(m);
          const ok = !fail;
          a.settled(m, ok);
          if (ok) state.set(seq, 'ok');
          else {
            state.set(seq, 'failed');
            failedQueue.push(seq);
          }
          if (takeNow) {
            const t = a.take();
            if (t) {
              expect(t.seq).toBeGreaterThan(acked);
              for (let s = 1; s <= t.seq; s++) expect(state.get(s)).toBe('ok');
              acked = t.seq;
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
