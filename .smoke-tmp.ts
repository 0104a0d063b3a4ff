import { startNatsServer, startRedisServer } from '/work/main/shared/local-servers.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const dir = mkdtempSync(join(tmpdir(), 'smoke-'));
const nats = await startNatsServer({ dataDir: join(dir, 'n') });
const redis = await startRedisServer({ dataDir: join(dir, 'r') });
const env = { ...process.env, NATS_URL: nats.url, REDIS_URL: redis.url, PSEUDONYM_KEY: 'smoke-key-0123456789', KEZEK_PREFIX: 'smoke', LOG_LEVEL: 'info' };
const run = (args: string[]) => new Promise<number>((resolve) => {
  const p = spawn(process.execPath, ['--import', 'tsx', 'services/estimator/main.ts', ...args], { cwd: '/work/main', env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (args.length === 0) setTimeout(() => p.kill('SIGTERM'), 6000);
  p.stdout!.on('data', (d) => process.stdout.write(String(d).split('\n').map((l) => l.slice(0, 220)).join('\n')));
  p.stderr!.on('data', (d) => process.stdout.write(String(d).slice(0, 500)));
  p.on('exit', (c) => resolve(c ?? -1));
});
console.log('run exit', await run([]));
console.log('rebuild exit', await run(['rebuild']));
await nats.stop(); await redis.stop();
