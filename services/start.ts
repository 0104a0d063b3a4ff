/**
 * `npm start`: the whole system from one command. Composition root only:
 * config -> NATS + Redis (configured, reused or spawned; services/start/servers.ts) -> pseudonymisation key ->
 * estimator, API (wait for /healthz), simulator -> banner -> wait for Ctrl-C / SIGTERM -> ordered, bounded,
 * idempotent shutdown (simulator, API, estimator, then the servers this process started).
 *
 * Supervision policy: fail fast. A service that exits on its own is logged, the rest are shut down in order and
 * `npm start` exits 1, so a broken build never looks healthy; restarting is left to whatever runs `npm start`
 * (a terminal user, systemd, compose). Exit codes: 0 clean stop, 1 runtime failure, 2 bad configuration.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from '../shared/config.ts';
import { createLogger } from '../shared/logger.ts';
import { freePort, isPortOpen, type LocalServer } from '../shared/local-servers.ts';
import { redactUrl, resolveNats, resolveRedis, StartError, type ResolvedServer } from './start/servers.ts';
import { ensurePseudonymKey } from './start/key.ts';
import { spawnService, type ServiceChild } from './start/children.ts';
import { banner, reachableHost, waitForHealthy } from './start/banner.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** Start order; shutdown goes in reverse (stop intake first, the consumer last so it can finish in-flight work). */
const SERVICES = [
  { name: 'estimator', script: 'services/estimator/main.ts' },
  { name: 'api', script: 'services/api/main.ts' },
  { name: 'simulator', script: 'services/simulator/main.ts' },
] as const;
const CHILD_GRACE_MS = 10_000;
const HEALTHY_TIMEOUT_MS = 60_000;

const config = loadConfigOrExit();
const log = createLogger({ service: 'start', level: config.LOG_LEVEL });
const dataDir = resolve(config.DATA_DIR);

const children: ServiceChild[] = [];
const localServers: LocalServer[] = [];
let stopping = false;
let shutdownPromise: Promise<never> | undefined;
/** Settles when server resolution is over, so a Ctrl-C during startup cannot orphan a server being spawned. */
let serversSettled: Promise<unknown> = Promise.resolve();

function shutdown(exitCode: number, reason: string): Promise<never> {
  if (shutdownPromise) return shutdownPromise;
  stopping = true;
  shutdownPromise = (async () => {
    log.info({ reason }, 'shutting down');
    const stopOrder = [...children].reverse();
    for (const child of stopOrder) {
      if (child.exitInfo) continue;
      const res = await child.stop(CHILD_GRACE_MS);
      log.info({ child: child.name, code: res.code, signal: res.signal }, `${child.name} stopped`);
    }
    await serversSettled.catch(() => undefined);
    // Redis first, then NATS (whichever was spawned first): the order is fixed so logs and tests can rely on it
    const serverOrder = { redis: 0, nats: 1 } as const;
    for (const server of [...localServers].sort((a, b) => serverOrder[a.kind] - serverOrder[b.kind])) {
      await server.stop().catch((err: unknown) => log.warn({ err, kind: server.kind }, 'stopping local server failed'));
      log.info({ kind: server.kind, port: server.port }, `local ${server.kind} server stopped`);
    }
    log.info({ exitCode }, 'bye');
    // let pino flush before exiting
    await new Promise((r) => setImmediate(r));
    process.exit(exitCode);
  })();
  return shutdownPromise;
}

let firstSignalAt = 0;
/** One Ctrl-C often arrives twice (terminal + the tsx/npm wrappers relaying it); only a later one is "impatient". */
const REPEAT_SIGNAL_MS = 1500;

function onSignal(signal: NodeJS.Signals): void {
  if (shutdownPromise) {
    if (Date.now() - firstSignalAt < REPEAT_SIGNAL_MS) return;
    // a second Ctrl-C: the user does not want to wait for graceful shutdown
    log.warn({ signal }, 'second signal: killing services now');
    for (const child of children) child.kill();
    return;
  }
  firstSignalAt = Date.now();
  void shutdown(0, signal);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('uncaughtException', (err) => {
  log.fatal({ err }, 'uncaught exception in npm start');
  for (const child of children) child.kill();
  for (const server of localServers) void server.stop('SIGKILL');
  process.exit(1);
});

function describe(server: ResolvedServer): string {
  if (server.origin === 'configured') return `${redactUrl(server.url)} (configured: ${server.kind === 'nats' ? 'NATS_URL' : 'REDIS_URL'})`;
  if (server.origin === 'reused') return `${server.url} (reused: already running on the default port)`;
  return `${server.url} (local ${server.kind}-server started by npm start, data in ${join(config.DATA_DIR, server.kind)})`;
}

function startChild(name: string, script: string, env: NodeJS.ProcessEnv): ServiceChild {
  const child = spawnService({ name, script, cwd: ROOT, env });
  children.push(child);
  log.info({ child: name, pid: child.pid }, `${name} started`);
  void child.exited.then((res) => {
    if (stopping) return;
    log.error({ child: name, code: res.code, signal: res.signal }, `${name} exited unexpectedly; stopping everything`);
    void shutdown(1, `${name} exited`);
  });
  return child;
}

async function main(): Promise<void> {
  const wanted = SERVICES.filter((s) => s.name !== 'simulator' || config.SIMULATOR === 'on');
  const missing = wanted.filter((s) => !existsSync(join(ROOT, s.script)));
  if (missing.length) {
    throw new StartError('SERVICE_MISSING', `missing service entry point(s): ${missing.map((s) => s.script).join(', ')}`);
  }

  const track = (r: ResolvedServer): ResolvedServer => {
    // registered as soon as it exists, so a shutdown racing with startup still stops it
    if (r.local) {
      localServers.push(r.local);
      log.info({ kind: r.kind, url: r.url, port: r.local.port, pid: r.local.pid, dataDir: r.local.dataDir }, `local ${r.kind} server started`);
    }
    return r;
  };
  const resolution = Promise.allSettled([
    resolveNats({
      configuredUrl: config.NATS_URL,
      mode: config.LOCAL_SERVERS,
      dataDir,
      natsCreds: { user: config.NATS_USER, pass: config.NATS_PASSWORD, inboxPrefix: config.NATS_INBOX_PREFIX },
      onSpawn: (kind, port) => log.info({ kind, port }, 'starting local nats-server'),
    }).then(track),
    resolveRedis({
      configuredUrl: config.REDIS_URL,
      mode: config.LOCAL_SERVERS,
      dataDir,
      onSpawn: (kind, port) => log.info({ kind, port }, 'starting local redis-server'),
    }).then(track),
  ]);
  serversSettled = resolution;
  const [natsRes, redisRes] = await resolution;
  if (natsRes.status === 'rejected') throw natsRes.reason;
  if (redisRes.status === 'rejected') throw redisRes.reason;
  const nats = natsRes.value;
  const redis = redisRes.value;
  if (stopping) return;

  let pseudonymKey = config.PSEUDONYM_KEY;
  if (!pseudonymKey) {
    const local = ensurePseudonymKey(dataDir);
    pseudonymKey = local.key;
    log.info({ path: local.path }, local.generated ? 'generated a local pseudonymisation key (PSEUDONYM_KEY unset)' : 'using the local pseudonymisation key (PSEUDONYM_KEY unset)');
  }

  const port = config.PORT === 0 ? await freePort() : config.PORT;
  if (await isPortOpen(port, reachableHost(config.HOST).replace(/^\[|\]$/g, ''))) {
    throw new StartError('SPAWN_FAILED', `PORT ${port} is already in use on ${config.HOST}; stop what uses it, or set PORT (PORT=0 picks a free one)`);
  }
  // The children get the parent's environment (PATH, API_TOKENS, LOG_LEVEL, ...) plus what was resolved here.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: nats.url,
    REDIS_URL: redis.url,
    PSEUDONYM_KEY: pseudonymKey,
    DATA_DIR: dataDir,
    PORT: String(port),
    HOST: config.HOST,
  };

  for (const svc of wanted.filter((s) => s.name !== 'simulator')) startChild(svc.name, svc.script, env);
  const api = children.find((c) => c.name === 'api')!;
  const healthy = await waitForHealthy({
    host: config.HOST,
    port,
    timeoutMs: HEALTHY_TIMEOUT_MS,
    cancelled: () => stopping || api.exitInfo !== undefined,
  });
  if (stopping) return;
  if (!healthy) throw new StartError('SPAWN_FAILED', `the API did not answer /healthz on port ${port} within ${HEALTHY_TIMEOUT_MS / 1000} s`);

  const sim = wanted.find((s) => s.name === 'simulator');
  if (sim) startChild(sim.name, sim.script, env);

  process.stdout.write(
    banner({
      host: config.HOST,
      port,
      nats: describe(nats),
      redis: describe(redis),
      simulator: sim ? `on (speed ${config.SIMULATOR_SPEED}x, seed ${config.SIMULATOR_SEED})` : 'off (SIMULATOR=off)',
    }),
  );
  log.info({ port, nats: redactUrl(nats.url), natsOrigin: nats.origin, redis: redactUrl(redis.url), redisOrigin: redis.origin }, 'kezek is running');
}

main().catch((err: unknown) => {
  if (err instanceof StartError) {
    process.stderr.write(`npm start: ${err.message}\n`);
    log.error({ code: err.code }, 'startup failed');
  } else {
    log.error({ err }, 'startup failed');
  }
  void shutdown(1, 'startup failed');
});
