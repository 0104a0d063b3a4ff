/**
 * Runs one of Kezek's CLIs (`node --import tsx <script> ...args`) from the repository root as a child process and
 * resolves with its exit code and output. The env is exactly what is given (plus PATH), so a test states every
 * variable the CLI sees. A child still running after `killAfterMs` is SIGKILLed (kept inside the test's timeout: a
 * hung child must not outlive its test); with `signalAfter` it is sent that signal once its output matches, with
 * `signalWhen` once that event (a promise) has happened.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr as they arrived, interleaved. */
  out: string;
}

export function runCli(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
  opts: { killAfterMs?: number; signalAfter?: { text: RegExp; signal: NodeJS.Signals }; signalWhen?: { event: Promise<unknown>; signal: NodeJS.Signals }; input?: Buffer | string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    // `input`: piped to the child's stdin, then closed (a CLI reading `-`)
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    const run: CliRun = { code: null, stdout: '', stderr: '', out: '' };
    let signalled = false;
    const onData = (stream: 'stdout' | 'stderr') => (d: Buffer) => {
      const text = d.toString();
      run[stream] += text;
      run.out += text;
      if (opts.signalAfter && !signalled && opts.signalAfter.text.test(run.out)) {
        signalled = true;
        child.kill(opts.signalAfter.signal);
      }
    };
    void opts.signalWhen?.event.then(() => child.kill(opts.signalWhen!.signal));
    child.stdout!.on('data', onData('stdout'));
    child.stderr!.on('data', onData('stderr'));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 25_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      run.code = code;
      resolve(run);
    });
  });
}
