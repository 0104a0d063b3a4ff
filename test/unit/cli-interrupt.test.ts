/**
 * shared/cli.ts onInterrupt in a real child process: the echo of a Ctrl-C (tsx relays it again within milliseconds)
 * must not kill a graceful stop; a later repeat quits with 130.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = new URL('../../shared/cli.ts', import.meta.url).href;
const script = join(mkdtempSync(join(tmpdir(), 'kezek-interrupt-')), 'child.ts');
writeFileSync(
  script,
  `import { onInterrupt } from ${JSON.stringify(CLI)};
onInterrupt((signal) => { console.log('stopping on ' + signal); setTimeout(() => { console.log('stopped cleanly'); process.exit(0); }, 1500); }, () => console.log('again'));
console.log('ready');
setInterval(() => {}, 1000);
`,
);

/** Runs the child, sends SIGINT once it is ready and again after `gapMs`; resolves with its exit and output. */
function run(gapMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out === 'ready\n') {
        child.kill('SIGINT');
        setTimeout(() => child.kill('SIGINT'), gapMs);
      }
    });
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('onInterrupt', () => {
  it('ignores a repeat right after the first signal (the stop finishes), and quits with 130 on a later one', { timeout: 30_000 }, async () => {
    const echo = await run(20);
    expect(echo).toMatchObject({ code: 0, out: 'ready\nstopping on SIGINT\nstopped cleanly\n' });
    const insist = await run(1200);
    expect(insist).toMatchObject({ code: 130, out: 'ready\nstopping on SIGINT\nagain\n' });
  });
});
