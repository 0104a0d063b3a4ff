/**
 * CPU the estimator's consume path costs per 1,000 events, without a producer competing for the cores: the ingest
 * row's events are published to a fresh stream first, then an in-process estimator (store marked initialised, so
 * the normal consume loop with refreshes, not a rebuild) applies them until its estimates caught up; measured: this
 * process's CPU (only the estimator runs in it meanwhile), nats-server's and redis-server's (throwaway servers), and
 * the wall time. A first estimator on its own prefix consumes the warm-up events, so the measured one runs on
 * JIT-compiled code. `COMPARE=<another checkout>` loads that checkout's estimator too (the same node_modules) and
 * alternates the two round by round, so each pair of rounds sees the same machine.
 * The measurement starts when start() resolved (the boot done, the fetch loop begun); the figures below from before
 * 22:20 UTC on 2026-11-22 included the boot (the same for both variants of a comparison, so their differences hold).
 * `SETTINGS='[{}, {"concurrency": 1024}]'` compares settings of this checkout's estimator instead (a JSON list of
 * createEstimator option overrides, each a variant, alternated the same way).
 * `PROFILE=<dir>` writes a CPU profile of each variant's last round (see profileTo below).
 * `node --import tsx bench/experiments/consume-cost.ts` (ROUNDS=4, EVENTS=15000, COMPARE, SETTINGS, PROFILE unset).
 * On 2026-11-22 (2 x Intel Xeon guest, ROUNDS=8, COMPARE = the checkout before cumulative acks, 8,060 events: the
 * DES of that evening), medians: cumulative acks 576 ms, estimator 61.2, nats-server 14.9, redis-server 26.1 ms of
 * CPU per 1k events; per-message acks 607 ms, 60.8 / 19.9 / 27.3. Single rounds varied by +-20 % (this machine).
 * Later that evening (ROUNDS=10, 15,000 events), apply-events' event fields packed into one argument against the
 * checkout before: 878 vs 914 ms, estimator 42.8 vs 48.2, nats-server 10.0 vs 12.0, redis-server 26.7 vs 27.3.
 */
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import { ensureStreams } from '../../shared/nats.ts';
import { experimentServers } from '../lib/experiment.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { createEstimator as createThis } from '../../services/estimator/estimator.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { createLogger } from '../../shared/logger.ts';
import { ingestWorkload, prepareEvents, publishPrepared } from '../lib/events.ts';
import { cpuMs } from '../lib/procs.ts';

const KEY = 'consume-cost-pseudonym-key-0123456789';
const { redisSrv, natsSrv, redis: sharedRedis, nc, js, close } = await experimentServers('consume-cost');
const logger = createLogger({ service: 'consume-cost', level: 'warn', pretty: false });
const catalogue = loadCatalogue();
const workload = ingestWorkload(catalogue, Number(process.env.EVENTS ?? 15_000), 2_000);
const rounds = Number(process.env.ROUNDS ?? 4);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Create = typeof createThis;
/**
 * Each variant's estimator gets a Redis client of its own: a checkout defines its Lua scripts on the client under the
 * same command names, so on a shared client the last checkout's scripts would answer the other's calls.
 */
type Overrides = Partial<Parameters<Create>[0]>;
const variants: [string, Create, Redis, Overrides][] = [];
if (process.env.SETTINGS) {
  for (const o of JSON.parse(process.env.SETTINGS) as Overrides[]) variants.push([`this checkout ${JSON.stringify(o)}`, createThis, new Redis(redisSrv.url), o]);
} else variants.push(['this checkout', createThis, new Redis(redisSrv.url), {}]);
if (process.env.COMPARE) {
  const other = (await import(join(process.env.COMPARE, 'services/estimator/estimator.ts'))) as { createEstimator: Create };
  variants.push([process.env.COMPARE, other.createEstimator, new Redis(redisSrv.url), {}]);
}

async function consume(createEstimator: Create, redis: Redis, overrides: Overrides, prefix: string, events: typeof workload.events): Promise<{ wallMs: number; node: number; nats: number; redis: number }> {
  await ensureStreams(nc, { prefix });
  await publishPrepared(js, prepareEvents(events, subjects(prefix), KEY));
  await createQueueStore({ redis: sharedRedis, prefix }).markInitialised();
  await sleep(300); // let the servers settle after the publishing
  const est = createEstimator({ nc, redis, catalogue, prefix, logger, pseudonymKey: KEY, ...overrides });
  // start() resolves once the boot (streams, consumer, seeding and refreshing the 72 queues' estimates) is done and
  // the fetch loop began: the measurement starts there, so it holds the consumption only
  await est.start();
  const profiling = profileTo !== undefined && profileRound;
  if (profiling) await startProfile();
  const c0 = process.cpuUsage();
  const n0 = cpuMs(natsSrv.pid);
  const r0 = cpuMs(redisSrv.pid);
  const t0 = performance.now();
  while (est.stats().applied + est.stats().duplicates < events.length || est.stats().refreshPending > 0) await sleep(5);
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const out = { wallMs, node: (c.user + c.system) / 1000, nats: cpuMs(natsSrv.pid) - n0, redis: cpuMs(redisSrv.pid) - r0 };
  if (profiling) await stopProfile(prefix);
  await est.stop();
  return out;
}

/**
 * `PROFILE=<dir>`: the last round's measured window of each variant (from start() resolved until the estimates caught
 * up) is CPU-profiled in-process (node:inspector) and written to <dir>/<prefix>.cpuprofile. Profiling slows the
 * round: its figures are not comparable with the others.
 */
const profileTo = process.env.PROFILE;
let profileRound = false;
const inspector = profileTo === undefined ? undefined : new Session();
async function startProfile(): Promise<void> {
  inspector!.connect();
  await inspector!.post('Profiler.enable');
  await inspector!.post('Profiler.setSamplingInterval', { interval: 200 });
  await inspector!.post('Profiler.start');
}
async function stopProfile(name: string): Promise<void> {
  const { profile } = await inspector!.post('Profiler.stop');
  inspector!.disconnect();
  mkdirSync(profileTo!, { recursive: true });
  writeFileSync(join(profileTo!, `${name}.cpuprofile`), JSON.stringify(profile));
  console.log(`profile: ${join(profileTo!, `${name}.cpuprofile`)}`);
}

let n = 0;
for (const [, create, redis, o] of variants) await consume(create, redis, o, `ccwarm${n++}`, workload.warmup);
const per1k = (ms: number) => ((ms * 1000) / workload.events.length).toFixed(1);
const all = new Map<string, { wallMs: number; node: number; nats: number; redis: number }[]>();
for (let i = 0; i < rounds; i++) {
  profileRound = i === rounds - 1;
  for (const [name, create, redis, o] of i % 2 ? [...variants].reverse() : variants) {
    const r = await consume(create, redis, o, `cc${n++}`, workload.events);
    all.set(name, [...(all.get(name) ?? []), r]);
    console.log(`round ${i + 1} ${name}: ${workload.events.length} events in ${r.wallMs.toFixed(0)} ms; CPU ms per 1k events: estimator ${per1k(r.node)}, nats-server ${per1k(r.nats)}, redis-server ${per1k(r.redis)}`);
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, rs] of all) {
  console.log(`median ${name}: ${med(rs.map((r) => r.wallMs)).toFixed(0)} ms; CPU ms per 1k events: estimator ${per1k(med(rs.map((r) => r.node)))}, nats-server ${per1k(med(rs.map((r) => r.nats)))}, redis-server ${per1k(med(rs.map((r) => r.redis)))}`);
}
for (const [, , redis] of variants) await redis.quit();
await close();
