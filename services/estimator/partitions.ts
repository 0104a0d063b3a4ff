/**
 * Partition ownership for several estimator instances. A partition is one crossing (its own durable consumer,
 * filter `<prefix>.v1.events.<crossingId>.>`, see consumer.ts). Every tick an instance:
 *
 *   1. announces itself (heartbeat, Redis server time) and reads the live instances;
 *   2. renews its leases (owner-checked); a lease it no longer owns is dropped at once;
 *   3. computes its fair share ceil(partitions / live instances) and releases the extras (first the partitions
 *      whose rendezvous-preferred owner is someone else), after their loop stopped;
 *   4. takes free partitions (SET NX PX) up to its share, its rendezvous-preferred ones first.
 *
 * A dead instance stops renewing: its heartbeat and leases expire after `leaseMs`, the survivors' share grows and
 * they take its partitions; JetStream redelivers what it had not acked. A single instance owns every partition.
 * If Redis cannot be reached, an instance keeps a partition only until its lease would have expired.
 * Two owners can overlap briefly (a paused instance); the state is idempotent and order-independent, so that is
 * safe, only wasteful. Design notes: docs/scale-out.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../../shared/logger.ts';
import type { LeaseStore } from '../../shared/leases/store.ts';

export interface PartitionManagerDeps {
  leases: LeaseStore;
  partitions: readonly string[];
  instanceId: string;
  /** Lease and heartbeat lifetime; a dead instance's partitions move after about this long. */
  leaseMs: number;
  /** Tick period; default leaseMs / 3. */
  tickMs?: number;
  logger: Logger;
  /** The partition is now ours: start consuming it. */
  onAcquired(partition: string): void;
  /** The partition is no longer ours (or is about to be released): stop consuming it; resolve when stopped. */
  onLost(partition: string): Promise<void>;
}

export interface PartitionManager {
  /** First tick (so a lone instance owns everything on return), then the periodic ticks. */
  start(): Promise<void>;
  /** Stops ticking, stops every partition (onLost), releases the leases and withdraws the heartbeat. Safe twice. */
  stop(): Promise<void>;
  owned(): string[];
  /** One balancing round (exposed for tests). */
  tick(): Promise<void>;
}

export const DEFAULT_LEASE_MS = 15_000;

/** `host-pid-random`: unique per process, readable in logs and in the lease values. */
export function newInstanceId(): string {
  return `${hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 40)}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** How many partitions one of `instances` live instances should hold. */
export const fairShare = (partitions: number, instances: number): number => Math.ceil(partitions / Math.max(1, instances));

const weight = (partition: string, instance: string): number => createHash('sha1').update(`${partition}|${instance}`).digest().readUInt32BE(0);

/** Rendezvous (highest random weight) choice: the live instance a partition prefers; stable when others come and go. */
export function preferredOwner(partition: string, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestW = -1;
  for (const i of instances) {
    const w = weight(partition, i);
    if (w > bestW || (w === bestW && best !== undefined && i < best)) {
      best = i;
      bestW = w;
    }
  }
  return best;
}

export function createPartitionManager(deps: PartitionManagerDeps): PartitionManager {
  const { leases, instanceId: me, leaseMs } = deps;
  const tickMs = deps.tickMs ?? Math.max(100, Math.floor(leaseMs / 3));
  const log = deps.logger.child({ component: 'partitions', instanceId: me });
  /** partition -> local time until which the lease is surely ours (renewal time + leaseMs, minus a margin). */
  const owned = new Map<string, number>();
  let stopped = false;
  let ticking: Promise<void> | undefined;
  let loop: Promise<void> | undefined;
  let stopPromise: Promise<void> | undefined;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const validFor = () => Date.now() + leaseMs - Math.min(1000, leaseMs / 5);

  async function lose(p: string, why: string): Promise<void> {
    if (!owned.delete(p)) return;
    log.warn({ partition: p, why }, 'partition lost');
    await deps.onLost(p);
  }

  async function balance(): Promise<void> {
    const t0 = Date.now();
    const live = await leases.heartbeat(me, leaseMs);
    if (!live.includes(me)) live.push(me);
    live.sort();
    for (const p of [...owned.keys()]) {
      if (await leases.renew(p, me, leaseMs)) owned.set(p, t0 + leaseMs - Math.min(1000, leaseMs / 5));
      else await lose(p, 'lease renewal refused (expired and taken over?)');
    }
    const share = fairShare(deps.partitions.length, live.length);
    if (owned.size > share) {
      // keep the partitions that prefer us; hand over the others
      const extras = [...owned.keys()].sort((a, b) => Number(preferredOwner(a, live) === me) - Number(preferredOwner(b, live) === me)).slice(0, owned.size - share);
      // all at once: each stop waits for its open fetch to end (so nothing fetched is left unacked), and doing them
      // one after another would delay this tick - and the renewal of the leases we keep - by one fetch per partition
      for (const p of extras) owned.delete(p);
      await Promise.all(
        extras.map(async (p) => {
          await deps.onLost(p);
          await leases.release(p, me);
          log.info({ partition: p, share, instances: live.length }, 'partition released (rebalancing)');
        }),
      );
    }
    if (owned.size < share && !stopped) {
      const candidates = deps.partitions
        .filter((p) => !owned.has(p))
        .sort((a, b) => Number(preferredOwner(b, live) === me) - Number(preferredOwner(a, live) === me) || (a < b ? -1 : a > b ? 1 : 0));
      for (const p of candidates) {
        if (owned.size >= share || stopped) break;
        if (await leases.acquire(p, me, leaseMs)) {
          owned.set(p, validFor());
          log.info({ partition: p, share, instances: live.length }, 'partition acquired');
          deps.onAcquired(p);
        }
      }
    }
  }

  async function tick(): Promise<void> {
    ticking = (async () => {
      try {
        await balance();
      } catch (err) {
        log.warn({ err }, 'partition balancing failed (Redis unreachable?)');
        const now = Date.now();
        for (const [p, until] of [...owned]) if (until <= now) await lose(p, 'lease could not be renewed before it expired');
      }
    })();
    await ticking;
  }

  return {
    owned: () => [...owned.keys()].sort(),
    tick,
    async start() {
      await tick();
      loop = (async () => {
        while (!stopped) {
          await pause(tickMs);
          if (!stopped) await tick();
        }
      })();
    },
    stop() {
      stopPromise ??= (async () => {
        stopped = true;
        wake?.();
        await ticking;
        await loop;
        const mine = [...owned.keys()];
        owned.clear();
        await Promise.all(mine.map((p) => deps.onLost(p)));
        for (const p of mine) await leases.release(p, me).catch(() => false);
        await leases.heartbeat(me, leaseMs, false).catch(() => []);
        log.info({ released: mine.length }, 'partitions released');
      })();
      return stopPromise;
    },
  };
}
