/**
 * infra/redis/redis.conf as shipped: a private redis-server runs the real file (port, dir and bind overridden on
 * the command line, as compose overrides the password). Data written before a restart is there after it, and a
 * full Redis refuses writes instead of evicting keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findBinary, freePort, isPortOpen } from '../../shared/local-servers.ts';
import { tempDir } from '../helpers/env.ts';

const CONF = join(import.meta.dirname, '../../infra/redis/redis.conf');
let dir: string;
let port: number;
let proc: ChildProcess | undefined;

async function startRedis(): Promise<void> {
  proc = spawn(findBinary('redis-server')!, [CONF, '--port', String(port), '--dir', dir, '--bind', '127.0.0.1', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!(await isPortOpen(port))) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode} (config rejected?)`);
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stopRedis(): Promise<void> {
  const p = proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

const client = () => new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });

beforeAll(async () => {
  dir = tempDir('kezek-redis-conf');
  port = await freePort();
  await startRedis();
});

afterAll(async () => {
  await stopRedis();
  rmSync(dir, { recursive: true, force: true });
});

describe('infra/redis/redis.conf', () => {
  it('is accepted by redis-server and sets append-only persistence and noeviction', async () => {
    const r = client();
    await r.connect();
    const get = async (k: string) => (await r.config('GET', k))[1];
    expect(await get('appendonly')).toBe('yes');
    expect(await get('appendfsync')).toBe('everysec');
    expect(await get('maxmemory-policy')).toBe('noeviction');
    expect(Number(await get('maxmemory'))).toBe(2 * 1024 ** 3);
    await r.quit();
  });

  it('keeps data across a restart (SIGTERM, start again on the same dir)', async () => {
    const r = client();
    await r.connect();
    await r.set('kezek:test:persisted', 'still here');
    await r.quit();
    await stopRedis();
    await startRedis();
    const r2 = client();
    await r2.connect();
    expect(await r2.get('kezek:test:persisted')).toBe('still here');
    await r2.quit();
  });

  it('when memory is full, writes fail with OOM and no existing key is evicted', async () => {
    const r = client();
    await r.connect();
    await r.set('kezek:test:precious', 'idempotency record');
    const used = Number(/used_memory:(\d+)/.exec(await r.info('memory'))![1]);
    await r.config('SET', 'maxmemory', String(used + 256 * 1024));
    try {
      const big = 'x'.repeat(64 * 1024);
      let err: Error | undefined;
      for (let i = 0; i < 64 && !err; i++) await r.set(`kezek:test:fill:${i}`, big).catch((e: Error) => (err = e));
      expect(err?.message).toMatch(/OOM/);
      expect(await r.get('kezek:test:precious')).toBe('idempotency record');
    } finally {
      await r.config('SET', 'maxmemory', '2gb');
      await r.quit();
    }
  });
});
