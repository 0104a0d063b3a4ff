/**
 * Benchmark child: the RAW baseline of the ingest row. A bare JetStream durable pull consumer (same fetch size,
 * concurrency, ack policy and max_ack_pending as the estimator) on its own stream `<P>_BASE`
 * (`<prefix>.base.>`), doing ONE trivial Lua call (INCR) per message and acking after it. No decode, no
 * validation, no estimate refresh: what the estimator would cost if its per-message work were free.
 * `--source-stream <name>` consumes an existing stream from its start instead (the replay row's baseline);
 * `--echo <subject>` re-publishes each message's payload there (core NATS) after the ack (the freshness baseline).
 * Acks: one per message (explicit, collected per event-loop turn), the way a bare consumer acks; `--ack-all`
 * instead acks cumulatively like the estimator (AckPolicy.All, services/estimator/acks.ts): one ack of the highest
 * sequence whenever nothing is in flight.
 */
import { Redis } from 'ioredis';
import { nanos } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import { loadConfigOrExit } from '../../shared/config.ts';
import { connectNats, DUPLICATE_WINDOW_MS } from '../../shared/nats.ts';
import { CONSUMER_DEFAULTS } from '../../services/estimator/consumer.ts';
import { baselineNames, serveChild } from './ipc.ts';

const BATCH = 512; // the estimator's defaults
const CONCURRENCY = 256; // keep equal to the estimator's default concurrency (services/estimator/estimator.ts)

const config = loadConfigOrExit();
const names = baselineNames(config.KEZEK_PREFIX);
const nc = await connectNats({ url: config.NATS_URL, name: 'bench-baseline' });
const jsm = await jetstreamManager(nc);
const argv = process.argv.slice(2);
const source = argv.includes('--source-stream') ? argv[argv.indexOf('--source-stream') + 1] : undefined;
const streamName = source ?? names.stream;
const echo = argv.includes('--echo') ? argv[argv.indexOf('--echo') + 1] : undefined;
const ackAll = argv.includes('--ack-all');
if (!source) {
  await jsm.streams.add({ name: names.stream, subjects: [`${config.KEZEK_PREFIX}.base.>`], retention: RetentionPolicy.Limits, storage: StorageType.File, duplicate_window: nanos(DUPLICATE_WINDOW_MS) });
}
await jsm.consumers.add(streamName, {
  durable_name: names.durable,
  ack_policy: ackAll ? AckPolicy.All : AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(CONSUMER_DEFAULTS.ackWaitMs),
  max_ack_pending: CONSUMER_DEFAULTS.maxAckPending,
});
const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: 2 });
redis.defineCommand('benchIncr', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" });
const incr = (redis as unknown as { benchIncr: (key: string) => Promise<number> }).benchIncr.bind(redis);
const counterKey = `${config.KEZEK_PREFIX}:bench:base`;

let processed = 0;
let stopping = false;
const js = jetstream(nc);
const consumer = await js.consumers.get(streamName, names.durable);

let fetchErrors = 0;

/**
 * Acks settled during one event-loop turn go out together (NATS writes its outbound buffer once per flush, so one
 * `m.ack()` at a time cost a socket write per message): the bare loop's acks are as cheap as per-message acks get.
 * (The estimator used this batcher until it moved to cumulative acks, services/estimator/acks.ts.)
 */
function createAckBatcher(): { ack(m: JsMsg): void; flush(): void } {
  let pending: JsMsg[] = [];
  let timer: NodeJS.Immediate | undefined;
  const flush = () => {
    if (timer) clearImmediate(timer);
    timer = undefined;
    const batch = pending;
    pending = [];
    for (const m of batch) m.ack();
  };
  return {
    ack(m) {
      pending.push(m);
      timer ??= setImmediate(flush);
    },
    flush,
  };
}

// the same consumption machinery as the estimator (services/estimator/estimator.ts `cycle`): a counting semaphore
// of CONCURRENCY handlers per fetch
const acks = createAckBatcher();

async function loop(): Promise<void> {
  while (!stopping) {
    let active = 0;
    let wake: (() => void) | undefined;
    let highest: JsMsg | undefined;
    const release = () => {
      active -= 1;
      // cumulative: nothing in flight, so every message up to the highest received is settled
      if (ackAll && active === 0 && highest) {
        acks.ack(highest);
        highest = undefined;
      }
      const w = wake;
      wake = undefined;
      w?.();
    };
    const slotFreed = () => new Promise<void>((r) => (wake = r));
    try {
      const msgs = await consumer.fetch({ max_messages: BATCH, expires: 1000 });
      for await (const m of msgs) {
        while (active >= CONCURRENCY) await slotFreed();
        active += 1;
        void (async (msg: JsMsg) => {
          await incr(counterKey);
          if (!ackAll) acks.ack(msg);
          else if (!highest || msg.seq > highest.seq) highest = msg;
          processed += 1;
          if (echo) nc.publish(echo, msg.data);
        })(m).finally(release);
      }
    } catch {
      // e.g. "heartbeats missed" when the 2 cores are saturated: like the estimator, fetch again
      fetchErrors += 1;
    } finally {
      while (active > 0) await slotFreed();
      acks.flush();
    }
  }
}
const running = loop();

const child = serveChild({
  counters: () => ({ processed, counters: { fetchErrors } }),
  shutdown: async () => {
    stopping = true;
    await running.catch(() => undefined);
    await nc.drain().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  },
});
child.ready({ stream: streamName });
