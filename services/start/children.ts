/**
 * The service child processes of `npm start`. Each runs `node --import tsx services/<name>/main.ts` in its own
 * process group (detached), so a terminal Ctrl-C reaches only the orchestrator, which then stops the children in
 * order. Output is inherited: pino's `service` field tells the lines apart (pretty on a terminal, JSON otherwise).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServiceChild {
  readonly name: string;
  readonly pid: number | undefined;
  /** Resolves when the process has exited (for any reason). */
  readonly exited: Promise<ChildExit>;
  readonly exitInfo: ChildExit | undefined;
  /** SIGTERM, wait up to graceMs, then SIGKILL. Safe to call twice; resolves once the process is gone. */
  stop(graceMs: number): Promise<ChildExit>;
  /** SIGKILL now (second Ctrl-C). */
  kill(): void;
}

export interface SpawnServiceOptions {
  name: string;
  /** Script path relative to cwd, e.g. services/api/main.ts */
  script: string;
  args?: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    // negative pid = the whole process group (the child is its leader because it is detached)
    process.kill(-proc.pid, signal);
  } catch {
    try {
      proc.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export function spawnService(opts: SpawnServiceOptions): ServiceChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', opts.script, ...(opts.args ?? [])], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'inherit', 'inherit'],
    detached: true,
  });
  let exitInfo: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    proc.once('error', () => {
      // spawn failure (e.g. ENOENT): no 'exit' follows
      exitInfo ??= { code: 127, signal: null };
      resolve(exitInfo);
    });
  });
  let stopping: Promise<ChildExit> | undefined;
  return {
    name: opts.name,
    get pid() {
      return proc.pid;
    },
    exited,
    get exitInfo() {
      return exitInfo;
    },
    stop(graceMs: number) {
      stopping ??= (async () => {
        if (exitInfo) return exitInfo;
        signalGroup(proc, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), graceMs);
        const res = await exited;
        clearTimeout(timer);
        return res;
      })();
      return stopping;
    },
    kill() {
      signalGroup(proc, 'SIGKILL');
    },
  };
}
