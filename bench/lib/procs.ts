/**
 * Benchmark services run as child processes (`node --import tsx bench/services/<name>.ts`), so each has its own
 * event loop and an honest RSS. They talk to the runner over the IPC channel (see bench/services/ipc.ts):
 * `ready` once serving, `stats` on request, and they shut down in order on `stop`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildReply, ChildRequest, ChildStats } from '../services/ipc.ts';

const SERVICES_DIR = fileURLToPath(new URL('../services/', import.meta.url));
/** Each child's stdout/stderr (pino JSON lines, crashes) goes to `<name>-<n>.log` here; *.log is git-ignored. */
export const LOGS_DIR = fileURLToPath(new URL('../results/logs/', import.meta.url));
let childCount = 0;

export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  /** What the child said when ready (e.g. its port). */
  readonly info: Record<string, unknown>;
  /** Counters and memory; `gc` runs a full collection in the child first (for memory readings); `memory: false`: counters only (polls). */
  stats(opts?: { gc?: boolean; memory?: boolean }): Promise<ChildStats>;
  /** Ask for an ordered shutdown; SIGKILL after timeoutMs. Safe to call twice. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface ForkOptions {
  env: Record<string, string>;
  args?: string[];
  readyTimeoutMs?: number;
  /** Extra node flags, e.g. ['--cpu-prof'] when investigating a row. */
  execArgv?: string[];
}

/**
 * `BENCH_PROFILE=estimator,api` (any of estimator, api, baseline, bare) runs those children with `--cpu-prof`;
 * the profiles land in bench/results/profiles/<name>-<n>/ (git-ignored), for Chrome DevTools; the largest file of
 * a directory is the main thread's.
 */
export const PROFILES_DIR = fileURLToPath(new URL('../results/profiles/', import.meta.url));
function profileFlags(name: string): string[] {
  const wanted = (process.env.BENCH_PROFILE ?? '').split(',').map((s) => s.trim());
  if (!wanted.includes(name)) return [];
  // one directory per child: node writes one profile per thread (tsx's loader runs in a worker thread)
  const dir = join(PROFILES_DIR, `${name}-${childCount}`);
  mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', '--cpu-prof-dir', dir];
}

/**
 * `BENCH_NODE_FLAGS='--single-threaded-gc'` adds node flags to the estimator and API children (Kezek's own
 * processes, not the baselines): for trying a runtime setting on a row without editing code.
 */
function kezekFlags(name: string): string[] {
  if (name !== 'estimator' && name !== 'api') return [];
  return (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

export async function startChild(name: 'estimator' | 'api' | 'baseline' | 'bare', opts: ForkOptions): Promise<BenchChild> {
  mkdirSync(LOGS_DIR, { recursive: true });
  const logFd = openSync(join(LOGS_DIR, `${name}-${++childCount}.log`), 'w');
  const proc: ChildProcess = fork(`${SERVICES_DIR}${name}.ts`, opts.args ?? [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...profileFlags(name), ...(opts.execArgv ?? []), ...kezekFlags(name)],
    // the child's own config comes from this env only (shared/config.ts reads it); PATH is needed for nothing else
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', LOG_LEVEL: 'warn', ...opts.env },
    stdio: ['ignore', logFd, logFd, 'ipc'],
    detached: true, // a terminal Ctrl-C reaches the bench only (it stops its children itself)
  });
  closeSync(logFd);
  let nextId = 1;
  const pending = new Map<number, (r: ChildReply) => void>();
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => {
    exited = true;
    for (const p of pending.values()) p({ type: 'error', message: `${name} exited` });
    pending.clear();
    resolve();
  }));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} not ready within ${opts.readyTimeoutMs ?? 60_000} ms`)), opts.readyTimeoutMs ?? 60_000);
    proc.on('message', (raw) => {
      const m = raw as ChildReply;
      if (m.type === 'ready') {
        clearTimeout(t);
        resolve(m.info);
      } else if ('id' in m && m.id !== undefined) {
        pending.get(m.id)?.(m);
        pending.delete(m.id);
      }
    });
    void exit.then(() => {
      clearTimeout(t);
      reject(new Error(`${name} exited before it was ready`));
    });
  });
  const request = (req: Omit<Extract<ChildRequest, { type: 'stats' }>, 'id'>): Promise<ChildReply> => {
    if (exited) return Promise.reject(new Error(`${name} has exited`));
    const id = nextId++;
    return new Promise((resolve) => {
      pending.set(id, resolve);
      proc.send({ ...req, id } satisfies ChildRequest);
    });
  };
  let stopping: Promise<void> | undefined;
  const child: BenchChild = {
    name,
    pid: proc.pid!,
    info: {},
    async stats(o = {}) {
      const r = await request({ type: 'stats', gc: o.gc, memory: o.memory });
      if (r.type !== 'stats') throw new Error(`${name}: ${r.type === 'error' ? r.message : 'unexpected reply'}`);
      return r.stats;
    },
    stop(timeoutMs = 15_000) {
      stopping ??= (async () => {
        if (exited) return;
        const kill = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        proc.send({ type: 'stop', id: 0 } satisfies ChildRequest);
        await exit;
        clearTimeout(kill);
      })();
      return stopping;
    },
  };
  try {
    (child as { info: Record<string, unknown> }).info = await ready;
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Polls `cond` every `everyMs` until it is true; throws after timeoutMs with `what`. */
export async function waitUntil(cond: () => Promise<boolean> | boolean, what: string, timeoutMs: number, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux); NaN elsewhere. */
export function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}
const CLOCK_TICKS = 100; // USER_HZ on Linux

/** Warning/error lines (pino level >= 40) and non-JSON output (crashes) per child log, by message. */
export function childLogSummary(): { file: string; messages: Record<string, number> }[] {
  let files: string[];
  try {
    files = readdirSync(LOGS_DIR).filter((f) => f.endsWith('.log'));
  } catch {
    return [];
  }
  const out: { file: string; messages: Record<string, number> }[] = [];
  for (const file of files) {
    const messages: Record<string, number> = {};
    for (const line of readFileSync(join(LOGS_DIR, file), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      let key: string;
      try {
        const l = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((l.level ?? 0) < 40) continue;
        key = `${l.msg ?? '?'}${l.err?.message ? `: ${l.err.message}` : ''}`;
      } catch {
        if (!/Error/.test(line)) continue;
        key = line.trim().slice(0, 120);
      }
      messages[key] = (messages[key] ?? 0) + 1;
    }
    if (Object.keys(messages).length) out.push({ file, messages });
  }
  return out.sort((a, b) => a.file.localeCompare(b.file, 'en', { numeric: true }));
}
