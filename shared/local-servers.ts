/**
 * Starts throwaway nats-server and redis-server processes on free ports. Used by `npm start` (when no
 * broker is configured or reachable), by the test suite and by the benchmarks. Stopping is idempotent.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';

export interface LocalServer {
  readonly kind: 'nats' | 'redis';
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** SIGTERM (or the given signal), wait for exit. Safe to call twice. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Stop then start again on the same port and data dir. */
  restart(): Promise<void>;
}

export const INSTALL_HINT =
  'Install them with: sudo apt-get install -y nats-server redis-server   (Debian/Ubuntu)\n' +
  '  or: brew install nats-server redis   (macOS), or set NATS_URL / REDIS_URL to existing servers.';

/** Absolute path of an executable on PATH (or /usr/sbin, /usr/bin), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin'];
  for (const d of dirs) {
    const p = join(d, name);
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = tcpConnect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

async function waitForPort(port: number, proc: ChildProcess, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with code ${proc.exitCode} before listening on ${port}`);
    if (await isPortOpen(port)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs} ms`);
}

function waitExit(proc: ChildProcess, timeoutMs = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
    }, timeoutMs);
    proc.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
  });
}

interface SpawnSpec {
  kind: 'nats' | 'redis';
  bin: string;
  args: (port: number) => string[];
  url: (port: number) => string;
  port: number;
  dataDir: string;
  /** Where the server's output goes: 'ignore' (default) or 'inherit'. */
  stdio?: 'ignore' | 'inherit';
  /** Own process group, so a terminal Ctrl-C reaches only the parent, which then stops things in order. */
  detached?: boolean;
}

async function spawnServer(spec: SpawnSpec): Promise<LocalServer> {
  mkdirSync(spec.dataDir, { recursive: true });
  let proc: ChildProcess | undefined;
  const start = async () => {
    proc = spawn(spec.bin, spec.args(spec.port), { stdio: ['ignore', spec.stdio ?? 'ignore', spec.stdio ?? 'ignore'], detached: spec.detached });
    proc.on('error', () => undefined);
    await waitForPort(spec.port, proc, `${spec.kind} (${spec.bin})`);
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    await waitExit(p);
    // wait until the port is free again so a restart can bind it
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await isPortOpen(spec.port))) await new Promise((r) => setTimeout(r, 50));
  };
  await start();
  return {
    kind: spec.kind,
    port: spec.port,
    url: spec.url(spec.port),
    dataDir: spec.dataDir,
    get pid() {
      return proc?.pid;
    },
    stop,
    restart: async () => {
      await stop();
      await start();
    },
  };
}

export interface NatsServerOptions {
  dataDir: string;
  port?: number;
  /** Extra arguments, e.g. ['-c', 'infra/nats/nats.conf'] or cluster flags. */
  extraArgs?: string[];
  /** Use only the config file (no -js/-sd flags); the config must set store_dir itself. */
  configOnly?: boolean;
  /**
   * false: a plain server without JetStream (no -js/-sd), as `nats-server -p 4222` runs; tests use it to check that
   * every service says so and stops instead of waiting. Default true.
   */
  jetstream?: boolean;
  stdio?: 'ignore' | 'inherit';
  detached?: boolean;
}

export async function startNatsServer(opts: NatsServerOptions): Promise<LocalServer> {
  const bin = findBinary('nats-server');
  if (!bin) throw new Error(`nats-server is not installed. ${INSTALL_HINT}`);
  const port = opts.port ?? (await freePort());
  return spawnServer({
    kind: 'nats',
    bin,
    port,
    dataDir: opts.dataDir,
    stdio: opts.stdio,
    detached: opts.detached,
    url: (p) => `nats://127.0.0.1:${p}`,
    args: (p) =>
      opts.configOnly || opts.jetstream === false
        ? ['-a', '127.0.0.1', '-p', String(p), ...(opts.extraArgs ?? [])]
        : ['-a', '127.0.0.1', '-p', String(p), '-js', '-sd', opts.dataDir, ...(opts.extraArgs ?? [])],
  });
}

export interface RedisServerOptions {
  dataDir: string;
  port?: number;
  /** Append-only persistence (what production uses); off by default for throwaway test servers. */
  appendonly?: boolean;
  stdio?: 'ignore' | 'inherit';
  detached?: boolean;
}

export async function startRedisServer(opts: RedisServerOptions): Promise<LocalServer> {
  const bin = findBinary('redis-server');
  if (!bin) throw new Error(`redis-server is not installed. ${INSTALL_HINT}`);
  const port = opts.port ?? (await freePort());
  return spawnServer({
    kind: 'redis',
    bin,
    port,
    dataDir: opts.dataDir,
    stdio: opts.stdio,
    detached: opts.detached,
    url: (p) => `redis://127.0.0.1:${p}`,
    args: (p) => [
      '--port', String(p),
      '--bind', '127.0.0.1',
      '--dir', opts.dataDir,
      '--save', '',
      '--appendonly', opts.appendonly ? 'yes' : 'no',
      '--protected-mode', 'yes',
      '--daemonize', 'no',
    ],
  });
}
