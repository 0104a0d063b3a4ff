/**
 * The `npm start` orchestrator's own behaviour, independent of what the services do: it runs the REAL
 * services/start.ts (copied into a temporary tree, with shared/ and node_modules linked) against small fixture
 * services that only log, serve /healthz and report the environment they were given. Real nats-server and
 * redis-server processes are spawned (LOCAL_SERVERS=spawn) in a temporary DATA_DIR.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { freePort, isPortOpen } from '../../shared/local-servers.ts';
import { tempDir } from '../helpers/env.ts';
import { isAlive, runStart, type LogLine, type StartProcess } from '../helpers/start-process.ts';

const ROOT = join(import.meta.dirname, '../..');

/** A fixture service: logs with its own `service` field, exits 0 on SIGTERM, records the order it was stopped in. */
const fixture = (name: string, http: boolean) => `
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
const config = loadConfigOrExit();
const log = createLogger({ service: '${name}', level: config.LOG_LEVEL });
const env = {
  nats: config.NATS_URL, redis: config.REDIS_URL, dataDir: config.DATA_DIR,
  keySha: config.PSEUDONYM_KEY ? createHash('sha256').update(config.PSEUDONYM_KEY).digest('hex') : null,
};
${
  http
    ? `const srv = createServer((req, res) => {
  if (req.url === '/healthz') { res.writeHead(200); res.end('{"status":"ok"}'); return; }
  if (req.url === '/env') { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(env)); return; }
  res.writeHead(404); res.end();
});
srv.listen(config.PORT, config.HOST, () => log.info({ port: config.PORT }, 'fixture listening'));`
    : `const timer = setInterval(() => undefined, 1000);`
}
log.info({ pid: process.pid }, 'fixture ${name} up');
const stop = () => {
  log.info('fixture ${name} got SIGTERM');
  ${http ? 'srv.close(() => process.exit(0));' : 'clearInterval(timer); process.exit(0);'}
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
`;

let tree: string;
const dirs: string[] = [];
const dataDirFor = (): string => {
  const d = tempDir('kezek-start-data');
  dirs.push(d);
  return d;
};

beforeAll(() => {
  tree = tempDir('kezek-start-tree');
  mkdirSync(join(tree, 'services'), { recursive: true });
  cpSync(join(ROOT, 'services/start.ts'), join(tree, 'services/start.ts'));
  cpSync(join(ROOT, 'services/start'), join(tree, 'services/start'), { recursive: true });
  symlinkSync(join(ROOT, 'shared'), join(tree, 'shared'));
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  writeFileSync(join(tree, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const [name, http] of [['api', true], ['estimator', false], ['simulator', false]] as const) {
    mkdirSync(join(tree, 'services', name));
    writeFileSync(join(tree, 'services', name, 'main.ts'), fixture(name, http));
  }
});

afterAll(() => {
  for (const d of [tree, ...dirs]) rmSync(d, { recursive: true, force: true });
});

function baseEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...extra };
  return env;
}

interface Started {
  sp: StartProcess;
  dataDir: string;
  port: number;
  natsPort: number;
  redisPort: number;
  pids: Record<string, number>;
}

async function startTree(extra: Record<string, string> = {}): Promise<Started> {
  const dataDir = dataDirFor();
  const port = await freePort();
  const sp = runStart({ cwd: tree, env: baseEnv({ PORT: String(port), DATA_DIR: dataDir, LOCAL_SERVERS: 'spawn', ...extra }) });
  await sp.waitFor((l) => l.msg === 'kezek is running', 45_000);
  const serverPort = (kind: string) => Number(sp.lines.find((l) => l.msg === `local ${kind} server started`)?.port);
  const pids: Record<string, number> = {};
  for (const l of sp.lines) if (l.service === 'start' && typeof l.child === 'string' && typeof l.pid === 'number') pids[l.child] = l.pid;
  return { sp, dataDir, port, natsPort: serverPort('nats'), redisPort: serverPort('redis'), pids };
}

/**
 * What npm start reported as stopped, in the order it happened. Sorted by the log time because lines written
 * to a pipe just before exit can arrive out of order (pino's asynchronous destination under back-pressure).
 */
const stoppedOrder = (lines: LogLine[]) =>
  lines
    .filter((l) => l.service === 'start' && /stopped$/.test(l.msg ?? ''))
    .sort((a, b) => Number(a.time) - Number(b.time))
    .map((l) => (l.child as string | undefined) ?? `${l.kind as string}-server`);

describe('npm start orchestration (fixture services)', () => {
  it('starts private servers, hands every service the resolved environment, and on Ctrl-C stops everything in order and exits 0', async () => {
    const st = await startTree();
    expect(st.natsPort).toBeGreaterThan(0);
    expect(st.redisPort).toBeGreaterThan(0);
    expect(Object.keys(st.pids).sort()).toEqual(['api', 'estimator', 'simulator']);
    expect(st.sp.output()).toContain('Kezek is running');
    expect(st.sp.output()).toContain(`http://127.0.0.1:${st.port}/docs`);

    // the generated key: persisted 0600, handed to the services, never printed
    const keyPath = join(st.dataDir, 'pseudonym.key');
    const key = readFileSync(keyPath, 'utf8').trim();
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const env = (await (await fetch(`http://127.0.0.1:${st.port}/env`)).json()) as Record<string, string>;
    expect(env).toEqual({
      nats: `nats://127.0.0.1:${st.natsPort}`,
      redis: `redis://127.0.0.1:${st.redisPort}`,
      dataDir: st.dataDir,
      keySha: createHash('sha256').update(key).digest('hex'),
    });
    expect(st.sp.output()).not.toContain(key);

    // (a service killed before it installed its handler would exit by signal: wait until all three are up)
    await st.sp.waitFor((l) => l.msg === 'fixture simulator up');
    // one Ctrl-C in a terminal reaches npm start twice (directly and relayed by the npm/tsx wrappers):
    // that must still be a graceful shutdown, not the "second Ctrl-C = kill now" escape hatch
    st.sp.proc.kill('SIGINT');
    st.sp.proc.kill('SIGINT');
    const res = await Promise.race([st.sp.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(res).toEqual({ code: 0, signal: null });
    expect(stoppedOrder(st.sp.lines)).toEqual(['simulator', 'api', 'estimator', 'redis-server', 'nats-server']);
    const childStops = st.sp.lines.filter((l) => l.service === 'start' && typeof l.child === 'string' && /stopped$/.test(l.msg ?? ''));
    // nobody was force-killed: the repeated signal did not trigger the "kill now" path
    expect(childStops.map((l) => l.child).sort()).toEqual(['api', 'estimator', 'simulator']);
    for (const l of childStops) expect(l.signal, String(l.child)).not.toBe('SIGKILL');
    for (const [name, pid] of Object.entries(st.pids)) expect(isAlive(pid), name).toBe(false);
    for (const p of [st.port, st.natsPort, st.redisPort]) expect(await isPortOpen(p), `port ${p}`).toBe(false);
  });

  it('keeps the same pseudonymisation key across restarts (the data dir is the state)', async () => {
    const first = await startTree();
    first.sp.proc.kill('SIGTERM');
    expect((await first.sp.exited).code).toBe(0);
    const key = readFileSync(join(first.dataDir, 'pseudonym.key'), 'utf8');

    const dataDir = first.dataDir;
    const port = await freePort();
    const sp = runStart({ cwd: tree, env: baseEnv({ PORT: String(port), DATA_DIR: dataDir, LOCAL_SERVERS: 'spawn', SIMULATOR: 'off' }) });
    await sp.waitFor((l) => l.msg === 'kezek is running', 45_000);
    expect(sp.lines.some((l) => l.msg === 'using the local pseudonymisation key (PSEUDONYM_KEY unset)')).toBe(true);
    expect(readFileSync(join(dataDir, 'pseudonym.key'), 'utf8')).toBe(key);
    expect(sp.lines.some((l) => l.child === 'simulator')).toBe(false);
    sp.proc.kill('SIGINT');
    expect((await sp.exited).code).toBe(0);
  });

  it('when a service dies unexpectedly, the rest are shut down and npm start exits 1', async () => {
    const st = await startTree();
    process.kill(st.pids.estimator!, 'SIGKILL');
    const res = await Promise.race([st.sp.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
    expect(res).toEqual({ code: 1, signal: null });
    expect(st.sp.lines.some((l) => l.level === 50 && l.child === 'estimator' && /exited unexpectedly/.test(l.msg ?? ''))).toBe(true);
    expect(stoppedOrder(st.sp.lines)).toEqual(['simulator', 'api', 'redis-server', 'nats-server']);
    for (const pid of Object.values(st.pids)) expect(isAlive(pid)).toBe(false);
    for (const p of [st.port, st.natsPort, st.redisPort]) expect(await isPortOpen(p)).toBe(false);
  });

  it('a configured NATS_URL that does not answer stops startup with a clear message, exit 1, nothing left running', async () => {
    const dead = await freePort();
    const sp = runStart({ cwd: tree, env: baseEnv({ NATS_URL: `nats://127.0.0.1:${dead}`, DATA_DIR: dataDirFor(), LOCAL_SERVERS: 'spawn' }) });
    const { code } = await sp.exited;
    expect(code).toBe(1);
    expect(sp.output()).toContain(`npm start: NATS_URL nats://127.0.0.1:${dead}: cannot connect`);
    // the Redis it had spawned meanwhile was stopped again
    const redisPort = Number(sp.lines.find((l) => l.msg === 'local redis server started')?.port);
    if (redisPort) expect(await isPortOpen(redisPort)).toBe(false);
    expect(sp.lines.some((l) => typeof l.child === 'string')).toBe(false);
  });

  it('credentials in a configured URL never reach the logs', async () => {
    const dead = await freePort();
    const sp = runStart({
      cwd: tree,
      env: baseEnv({ REDIS_URL: `redis://:hunter2-secret@127.0.0.1:${dead}`, DATA_DIR: dataDirFor(), LOCAL_SERVERS: 'spawn' }),
    });
    expect((await sp.exited).code).toBe(1);
    expect(sp.output()).toContain('REDIS_URL redis://:***@127.0.0.1');
    expect(sp.output()).not.toContain('hunter2');
  });

  it('a PORT that is already taken is reported before any service starts, exit 1, spawned servers stopped', async () => {
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      const sp = runStart({ cwd: tree, env: baseEnv({ PORT: String(port), DATA_DIR: dataDirFor(), LOCAL_SERVERS: 'spawn' }) });
      expect((await sp.exited).code).toBe(1);
      expect(sp.output()).toContain(`npm start: PORT ${port} is already in use`);
      expect(sp.lines.some((l) => typeof l.child === 'string')).toBe(false);
      for (const kind of ['nats', 'redis']) {
        const p = Number(sp.lines.find((l) => l.msg === `local ${kind} server started`)?.port);
        expect(p, kind).toBeGreaterThan(0);
        expect(await isPortOpen(p), kind).toBe(false);
      }
    } finally {
      blocker.close();
    }
  });

  it('a bad variable is named and npm start exits 2 before starting anything', async () => {
    const sp = runStart({ cwd: tree, env: baseEnv({ PORT: 'eighty', LOCAL_SERVERS: 'sometimes' }) });
    const { code } = await sp.exited;
    expect(code).toBe(2);
    expect(sp.output()).toMatch(/PORT: .*"eighty"/);
    expect(sp.output()).toMatch(/LOCAL_SERVERS/);
    expect(sp.lines).toEqual([]);
  });
});
