/**
 * Redis behind Sentinel: the services' client (shared/redis.ts) finds the primary through the sentinels, the queue
 * store works through it, and after the primary dies the sentinel promotes the replica and the same client carries
 * on with the replicated state. Real redis-server processes: a primary, a replica and one sentinel.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRedisClient } from '../../shared/redis.ts';
import { parseConfig } from '../../shared/config.ts';
import { createQueueStore } from '../../shared/queue-store/store.ts';
import { findBinary, freePort, isPortOpen } from '../../shared/local-servers.ts';
import { tempDir, uniquePrefix } from '../helpers/env.ts';
import type { KezekEvent } from '../../shared/events/index.ts';

const procs: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(args: string[], port: number): Promise<ChildProcess> {
  const p = spawn(findBinary('redis-server')!, args, { stdio: 'ignore' });
  procs.push(p);
  for (let i = 0; i < 200 && !(await isPortOpen(port)); i++) await sleep(25);
  return p;
}

afterAll(() => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
});

describe('Redis with Sentinel', () => {
  it('the store works through the sentinels and survives a failover of the primary', { timeout: 60_000 }, async () => {
    const dir = tempDir('kezek-sentinel');
    const [pPort, rPort, sPort] = [await freePort(), await freePort(), await freePort()];
    const base = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
    const primary = await start(['--port', String(pPort), ...base, '--dbfilename', 'p.rdb'], pPort);
    await start(['--port', String(rPort), ...base, '--dbfilename', 'r.rdb', '--replicaof', '127.0.0.1', String(pPort)], rPort);
    const conf = join(dir, 'sentinel.conf');
    writeFileSync(
      conf,
      [`port ${sPort}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor kezek 127.0.0.1 ${pPort} 1`, 'sentinel down-after-milliseconds kezek 1000', 'sentinel failover-timeout kezek 5000', ''].join('\n'),
    );
    await start([conf, '--sentinel'], sPort);

    const config = parseConfig({ REDIS_SENTINELS: `127.0.0.1:${sPort}`, REDIS_SENTINEL_NAME: 'kezek' });
    const redis = createRedisClient(config, { maxRetriesPerRequest: 20 });
    redis.on('error', () => undefined); // connection errors during the failover are expected; the assertions tell
    try {
      const prefix = uniquePrefix();
      const store = createQueueStore({ redis, prefix });
      const q = { crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck' } as const;
      const t0 = Date.parse('2026-11-22T06:00:00Z');
      const ev = (i: number): KezekEvent => ({ eventId: `s-${i}`, type: 'vehicle.arrived', crossingId: 'korday', direction: 'KZ-KG', vehicleClass: 'truck', occurredAt: new Date(t0 + i * 1000).toISOString(), vehicleRef: `ps1_${String(i).padStart(22, 'A')}` });
      for (let i = 0; i < 20; i++) expect(await store.applyEvent(ev(i))).toBe('applied');
      expect((await redis.call('ROLE')) as unknown[]).toContain('master');
      // make sure the replica has everything before the primary dies (replication is asynchronous). On a loaded
      // machine the replica's first full sync can take longer than one WAIT: wait until it acknowledges, bounded.
      let acked = 0;
      for (const deadline = Date.now() + 30_000; acked < 1 && Date.now() < deadline; ) acked = Number(await redis.call('WAIT', '1', '2000'));
      expect(acked).toBe(1);

      primary.kill('SIGKILL');
      // the sentinel notices (1 s), promotes the replica; the client asks the sentinel again and reconnects
      let applied: string | undefined;
      for (let i = 0; i < 100 && applied === undefined; i++) {
        applied = await store.applyEvent(ev(20)).catch(() => undefined);
        if (applied === undefined) await sleep(200);
      }
      expect(applied).toBe('applied');
      expect(redis.options.port).not.toBe(pPort); // now talking to the promoted replica
      expect(await store.applyEvent(ev(5))).toBe('duplicate'); // the replicated state (event ids) survived
      const w = await store.readWindow(q, t0 + 60_000, 3_600_000);
      expect(w.records.filter((r) => r.kind === 'A')).toHaveLength(21);
    } finally {
      redis.disconnect();
    }
  });
});
