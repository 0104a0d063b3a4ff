/**
 * shared/nats-request-patch.ts against a real nats-server: requests behave exactly as before (replies, no
 * responders, timeouts, JetStream publishes), and a request that got its reply no longer builds the throw-away
 * RequestError("cancelled").
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connectNats } from '../../shared/nats.ts';
import { requestOnePatched } from '../../shared/nats-request-patch.ts';
import { natsUrl, uniquePrefix } from '../helpers/env.ts';

// nats-core's own errors module (its package exports do not list it): request.js reads `RequestError` from it at
// call time, so a counting subclass put there sees every construction
const require = createRequire(import.meta.url);
const coreDir = dirname(require.resolve('@nats-io/nats-core'));
const errorsModule = require(join(coreDir, 'errors.js')) as { RequestError: new (message?: string, options?: ErrorOptions) => Error };

describe('nats-core request clean-up patch', () => {
  let nc: NatsConnection;
  const prefix = uniquePrefix();
  const original = errorsModule.RequestError;
  let constructed: string[] = [];

  beforeAll(async () => {
    nc = await connectNats({ url: natsUrl(), name: 'test-request-patch' });
    errorsModule.RequestError = class CountingRequestError extends original {
      constructor(message?: string, options?: ErrorOptions) {
        super(message, options);
        constructed.push(message ?? '');
      }
    };
    nc.subscribe(`${prefix}.echo`, {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    nc.subscribe(`${prefix}.slow`, { callback: () => undefined }); // never answers
    await nc.flush();
  });

  afterAll(async () => {
    errorsModule.RequestError = original;
    await nc?.drain();
  });

  it('is applied (nats-core still has the internals it relies on)', () => {
    expect(requestOnePatched).toBe(true);
  });

  it('answered requests resolve with their replies and build no RequestError', async () => {
    constructed = [];
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => nc.request(`${prefix}.echo`, `m${i}`, { timeout: 5000 })));
    expect(replies.map((m) => m.string())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    expect(constructed).toEqual([]);
  });

  it('a request nobody answers still times out, and one with no responder still fails as before', async () => {
    await expect(nc.request(`${prefix}.slow`, 'x', { timeout: 200 })).rejects.toMatchObject({ name: 'TimeoutError' });
    await expect(nc.request(`${prefix}.nobody`, 'x', { timeout: 2000 })).rejects.toThrow(/no responders/i);
  });

  it('answered requests are unregistered: nothing is left pending in the request multiplexer', async () => {
    await Promise.all(Array.from({ length: 50 }, () => nc.request(`${prefix}.echo`, 'y', { timeout: 5000 })));
    const mux = (nc as unknown as { protocol: { muxSubscriptions: { size(): number } } }).protocol.muxSubscriptions;
    expect(mux.size()).toBe(0);
  });

  it('JetStream publishes (one request each) get their acks', async () => {
    const jsm = await jetstreamManager(nc);
    const stream = `${prefix.toUpperCase()}_PATCH`;
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.js.>`] });
    const js = jetstream(nc);
    constructed = [];
    const acks = await Promise.all(Array.from({ length: 100 }, (_, i) => js.publish(`${prefix}.js.e`, `e${i}`, { msgID: `id-${i % 50}` })));
    expect(acks.filter((a) => a.duplicate)).toHaveLength(50);
    expect((await jsm.streams.info(stream)).state.messages).toBe(50);
    expect(constructed).toEqual([]);
    await jsm.streams.delete(stream);
  });
});
