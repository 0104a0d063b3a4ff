/**
 * Composition root of the API process: config -> logger -> clients -> streams -> app.listen, and an ordered,
 * idempotent, bounded shutdown on SIGINT/SIGTERM (close the app: stop intake, end SSE, stop the view and the
 * webhook worker; then drain NATS; then quit Redis).
 */
import { createRedisClient } from '../../shared/redis.ts';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { connectNats, natsSettings, ensureStreams } from '../../shared/nats.ts';
import { createApiReader } from './reader.ts';
import { buildApp } from './app.ts';
import { onInterrupt } from '../../shared/cli.ts';

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
  const catalogue = loadCatalogue();
  const nc = await connectNats({ ...natsSettings(config), name: 'kezek-api', logger });
  await ensureStreams(nc, { prefix: config.KEZEK_PREFIX, replicas: config.NATS_REPLICAS });
  const redis = createRedisClient(config, { lazyConnect: false, maxRetriesPerRequest: 2 });
  redis.on('error', (err) => logger.warn({ err: { message: err.message } }, 'redis error'));
  const reader = createApiReader({ redis, prefix: config.KEZEK_PREFIX, catalogue, staleAfterSeconds: config.STALE_AFTER_SECONDS, maxSilenceSeconds: config.STALE_QUIET_MAX_SECONDS });

  const app = await buildApp({ config, catalogue, nc, redis, reader, logger });

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      try {
        await app.close();
      } catch (err) {
        logger.error({ err }, 'closing the app failed');
      }
      try {
        await nc.drain();
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'draining NATS failed');
      }
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
      clearTimeout(timer);
      logger.info('stopped');
    })());
  onInterrupt((signal) => void shutdown(signal).then(() => process.exit(0)));

  await app.listen({ host: config.HOST, port: config.PORT });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
  const base = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  logger.info({ api: `${base}/v1`, docs: `${base}/docs`, openapi: `${base}/openapi.json`, dashboard: `${base}/` }, `API at ${base}/v1, docs at ${base}/docs, dashboard at ${base}/`);
}

main().catch((err: unknown) => {
  process.stderr.write(`api: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
