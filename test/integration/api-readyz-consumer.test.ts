/**
 * /readyz's consumer check (services/api/routes/health.ts) against a real nats-server: a durable consumer that never
 * delivered has no last_active, and its idle time counts from its creation (it used to count from 1970 and say
 * "no pull for 1795419361s").
 */
import { afterAll, describe, expect, it } from 'vitest';
import { AckPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { subjects } from '../../shared/events/index.ts';
import { estimatorConsumerCheck } from '../../services/api/routes/health.ts';
import { natsUrl, uniquePrefix } from '../helpers/env.ts';

let nc: NatsConnection | undefined;
afterAll(async () => nc?.drain());

describe('readyz consumer check', () => {
  it('names a consumer that never pulled by the time since its creation, and one that pulled by its last pull', async () => {
    nc = await connectNats({ url: natsUrl(), name: 'readyz-consumer-test' });
    const prefix = uniquePrefix();
    const s = subjects(prefix);
    const jsm = await ensureStreams(nc, { prefix });
    await jsm.consumers.add(s.eventsStream, { durable_name: s.estimatorDurable, ack_policy: AckPolicy.All });
    const js = jetstream(nc);
    await js.publish(s.eventsFor('korday', 'KZ-KG'), '{}');
    await js.publish(s.eventsFor('korday', 'KZ-KG'), '{}');
    const later = Date.now() + 120_000;
    const never = await estimatorConsumerCheck(jsm, s, [s.estimatorDurable], false, later, 60_000);
    expect(never.ok).toBe(false);
    expect(never.reason).toMatch(new RegExp(`${s.estimatorDurable}: 2 messages pending, no pull since it was created 1[12]\\ds ago$`));

    const m = await (await js.consumers.get(s.eventsStream, s.estimatorDurable)).next({ expires: 2000 });
    expect(m).not.toBeNull(); // delivered, not acked: 1 pending + 1 ack pending
    const pulled = await estimatorConsumerCheck(jsm, s, [s.estimatorDurable], false, later, 60_000);
    expect(pulled.reason).toMatch(/: 2 messages pending, no pull for 1[12]\ds$/);
    expect(await estimatorConsumerCheck(jsm, s, [s.estimatorDurable], false, Date.now(), 60_000)).toMatchObject({ ok: true, pending: 2 });
  });
});
