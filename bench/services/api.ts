/**
 * Benchmark child: the real API (services/api/app.ts `buildApp`) wired like services/api/main.ts, with an
 * optional `--catalogue <file>`. Listens on PORT (0 = any free port) and reports the port when ready.
 */
import { Redis } from 'ioredis';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { connectNats, ensureStreams } from '../../shared/nats.ts';
import { createApiReader } from '../../services/api/reader.ts';
import { buildApp } from '../../services/api/app.ts';
import { catalogueArg, serveChild } from './ipc.ts';

const config = loadConfigOrExit();
const logger = createLogger({ service: 'bench-api', level: config.LOG_LEVEL, pretty: false });
const path = catalogueArg();
const catalogue = path ? loadCatalogue(path) : loadCatalogue();
const nc = await connectNats({ url: config.NATS_URL, name: 'bench-api' });
await ensureStreams(nc, { prefix: config.KEZEK_PREFIX });
const redis = new Redis(config.REDIS_URL!, { maxRetriesPerRequest: 2 });
const reader = createApiReader({ redis, prefix: config.KEZEK_PREFIX, catalogue, staleAfterSeconds: config.STALE_AFTER_SECONDS, maxSilenceSeconds: config.STALE_QUIET_MAX_SECONDS });
const app = await buildApp({ config, catalogue, nc, redis, reader, logger, deliverWebhooks: false });

const child = serveChild({
  counters: () => ({ counters: { viewSize: app.kezek.view.size, viewSeq: app.kezek.view.lastSeq() } }),
  shutdown: async () => {
    await app.close();
    await nc.drain().catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
  },
});
await app.listen({ host: '127.0.0.1', port: config.PORT });
const addr = app.server.address();
child.ready({ port: typeof addr === 'object' && addr ? addr.port : config.PORT });
