/**
 * Container health checks (docker-compose.yml `healthcheck.test`):
 *   node --import tsx services/start/healthcheck.ts api|estimator|simulator
 * Reads the same environment as the service it checks (shared/config.ts). Exit 0 = healthy, 1 = unhealthy, with
 * the reason on stdout (docker shows it in `docker inspect`).
 *   api        GET /healthz answers 200
 *   estimator  its durable consumer exists and is being pulled (outstanding pull request, unacked work, or recent
 *              delivery): a stuck or disconnected estimator fails this. With ESTIMATOR_PARTITIONING=crossing, the
 *              per-crossing consumers (kezek-estimator-<crossing>): at least one exists, and none that has events
 *              waiting is left unpulled. A container cannot tell which crossings its own instance holds (Redis
 *              leases), so this checks the estimators as a group: one stuck partition marks every instance unhealthy
 *              until its lease moves (ESTIMATOR_LEASE_MS)
 *   simulator  the events stream received something in the last SIMULATOR_HEALTH_WINDOW_MS
 */
import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { inboxPrefixFor } from '../../shared/nats.ts';
import { loadConfigOrExit, type Config } from '../../shared/config.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { reachableHost } from './banner.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { durableName } from '../estimator/consumer.ts';

const TIMEOUT_MS = 4000;
const ESTIMATOR_ACTIVE_WINDOW_MS = 60_000;
const SIMULATOR_HEALTH_WINDOW_MS = 5 * 60_000;

async function withNats<T>(config: Config, fn: (jsm: Awaited<ReturnType<typeof jetstreamManager>>) => Promise<T>): Promise<T> {
  const nc = await connect({
    servers: (config.NATS_URL ?? 'nats://127.0.0.1:4222').split(','),
    user: config.NATS_USER,
    pass: config.NATS_PASSWORD,
    inboxPrefix: inboxPrefixFor(config.NATS_USER, config.NATS_INBOX_PREFIX),
    timeout: TIMEOUT_MS,
    maxReconnectAttempts: 0,
    name: 'kezek-healthcheck',
  });
  try {
    return await fn(await jetstreamManager(nc, { timeout: TIMEOUT_MS, checkAPI: false }));
  } finally {
    await nc.close().catch(() => undefined);
  }
}

async function checkApi(config: Config): Promise<string> {
  const res = await fetch(`http://${reachableHost(config.HOST)}:${config.PORT}/healthz`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  if (!res.ok) throw new Error(`/healthz answered ${res.status}`);
  return 'api answers /healthz';
}

/** Being pulled: an outstanding pull request, unacked work, or a delivery within ESTIMATOR_ACTIVE_WINDOW_MS. */
function consumerActive(info: ConsumerInfo, now: number): boolean {
  // the server sends an RFC 3339 string here, whatever the client's type says
  const lastActive = Date.parse(String(info.delivered.last_active ?? '')) || 0;
  return info.num_waiting > 0 || info.num_ack_pending > 0 || now - lastActive < ESTIMATOR_ACTIVE_WINDOW_MS;
}

async function checkEstimator(config: Config, now = Date.now()): Promise<string> {
  const s = subjects(config.KEZEK_PREFIX);
  if (config.ESTIMATOR_PARTITIONING === 'crossing') return checkPartitions(config, now);
  const info = await withNats(config, (jsm) => jsm.consumers.info(s.eventsStream, s.estimatorDurable));
  if (consumerActive(info, now)) {
    return `estimator consumer active (waiting pulls ${info.num_waiting}, unacked ${info.num_ack_pending}, pending ${info.num_pending})`;
  }
  throw new Error(`durable consumer ${s.estimatorDurable} exists but nobody is pulling from it`);
}

async function checkPartitions(config: Config, now: number): Promise<string> {
  const s = subjects(config.KEZEK_PREFIX);
  const crossings = [...new Set(loadCatalogue().queues().map((q) => q.crossingId))].sort();
  const infos = await withNats(config, (jsm) =>
    Promise.all(
      crossings.map((c) =>
        jsm.consumers.info(s.eventsStream, durableName(config.KEZEK_PREFIX, c)).catch((err: unknown) => {
          if ((err as { apiError?: () => { err_code?: number } }).apiError?.().err_code === 10014) return null; // not created yet
          throw err;
        }),
      ),
    ),
  );
  const found = infos.filter((i): i is ConsumerInfo => i !== null);
  if (found.length === 0) throw new Error(`no partition consumer ${s.estimatorDurable}-<crossing> exists yet`);
  const stuck = found.filter((i) => i.num_pending > 0 && !consumerActive(i, now)).map((i) => `${i.name} (${i.num_pending} pending)`);
  if (stuck.length > 0) throw new Error(`nobody is pulling from ${stuck.join(', ')}`);
  return `${found.length} of ${crossings.length} partition consumers exist, none with events waiting unpulled`;
}

async function checkSimulator(config: Config, now = Date.now()): Promise<string> {
  const s = subjects(config.KEZEK_PREFIX);
  const info = await withNats(config, (jsm) => jsm.streams.info(s.eventsStream));
  const last = Date.parse(info.state.last_ts) || 0;
  if (now - last > SIMULATOR_HEALTH_WINDOW_MS) throw new Error(`no event reached ${s.eventsStream} in the last ${SIMULATOR_HEALTH_WINDOW_MS / 60_000} min`);
  return `events flowing (last at ${info.state.last_ts})`;
}

const CHECKS = { api: checkApi, estimator: checkEstimator, simulator: checkSimulator } as const;

const target = process.argv[2];
if (target !== undefined && target in CHECKS) {
  const config = loadConfigOrExit();
  CHECKS[target as keyof typeof CHECKS](config).then(
    (msg) => {
      process.stdout.write(`healthy: ${msg}\n`);
      process.exit(0);
    },
    (err: unknown) => {
      process.stdout.write(`unhealthy: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
} else {
  process.stderr.write(`usage: healthcheck.ts ${Object.keys(CHECKS).join('|')}\n`);
  process.exit(2);
}
