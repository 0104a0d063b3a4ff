/**
 * Throwaway nats-server and redis-server for a script in bench/experiments/, with a client of each; `close()` ends
 * the clients, stops the servers and removes their data directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { jetstream } from '@nats-io/jetstream';
import { startNatsServer, startRedisServer } from '../../shared/local-servers.ts';
import { connectNats } from '../../shared/nats.ts';

export async function experimentServers(name: string) {
  const dir = mkdtempSync(join(tmpdir(), `kezek-${name}-`));
  const redisSrv = await startRedisServer({ dataDir: join(dir, 'redis') });
  const natsSrv = await startNatsServer({ dataDir: join(dir, 'nats') });
  const redis = new Redis(redisSrv.url);
  const nc = await connectNats({ url: natsSrv.url, name });
  return {
    redisSrv,
    natsSrv,
    redis,
    nc,
    js: jetstream(nc),
    async close(): Promise<void> {
      await nc.drain();
      await redis.quit();
      await natsSrv.stop();
      await redisSrv.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
