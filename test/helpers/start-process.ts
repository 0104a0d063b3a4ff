/**
 * Runs services/start.ts as a child process and follows its JSON log lines (stdout is not a TTY, so pino writes
 * JSON). Used by the `npm start` integration tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface LogLine {
  level?: number;
  service?: string;
  msg?: string;
  [k: string]: unknown;
}

export interface StartProcess {
  proc: ChildProcess;
  /** Every JSON log line so far (all processes share the output). */
  lines: LogLine[];
  /** All raw output (stdout + stderr). */
  output(): string;
  /** Resolves with the first line (past or future) that matches. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function runStart(opts: { cwd: string; env: NodeJS.ProcessEnv; script?: string }): StartProcess {
  const proc = spawn(process.execPath, ['--import', 'tsx', opts.script ?? 'services/start.ts'], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let raw = '';
  const waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buf = '';
  const onData = (chunk: Buffer) => {
    raw += chunk.toString();
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.startsWith('{')) continue;
      try {
        const l = JSON.parse(line) as LogLine;
        lines.push(l);
        for (const w of [...waiters]) {
          if (w.pred(l)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(l);
          }
        }
      } catch {
        /* not a log line */
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', (c: Buffer) => {
    raw += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    lines,
    output: () => raw,
    exited,
    waitFor(pred, timeoutMs = 30_000) {
      const found = lines.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for a log line; output so far:\n${raw.slice(-4000)}`)), timeoutMs);
        const w = {
          pred,
          resolve: (l: LogLine) => {
            clearTimeout(t);
            resolve(l);
          },
        };
        waiters.push(w);
        void exited.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            reject(new Error(`npm start exited before the expected log line; output:\n${raw.slice(-4000)}`));
          }
        });
      });
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
