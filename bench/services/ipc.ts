/**
 * The IPC protocol between the benchmark runner and its child services, and the child side of it: answer
 * `stats` with the service's counters and process memory, run the service's ordered shutdown on `stop`
 * (or SIGTERM/SIGINT, or when the runner disappears), then exit.
 */
import v8 from 'node:v8';

export interface ChildStats {
  /** Process memory (bytes); absent when the request said `memory: false`. */
  rss?: number;
  /** With `gc: true`: the RSS as found, before the garbage collection and the settle (see ChildRequest). */
  rssBeforeGc?: number;
  /** V8 heap in use, and what V8 holds committed for it (in RSS even when unused: pages kept after a GC). */
  heapUsed?: number;
  heapTotal?: number;
  /** Messages the service applied/acked (estimator: applied + duplicates; baseline: processed). */
  processed?: number;
  /** Service-specific counters. */
  counters?: Record<string, number>;
}

/**
 * `gc: true` reads memory at rest: a full garbage collection that compacts EVERY page (children start with
 * --expose-gc), then 1.5 s for V8 to return the freed pages to the OS (it unmaps them on a background thread), then
 * the reading. V8's normal full GC compacts only its most fragmented pages, and RSS right after it still holds the
 * pages it freed: after the growth row's 1M events the estimator's old space held 60 MiB committed for 18 MiB in use,
 * and its RSS read 178-213 MiB over runs with the same heap in use; read at rest, 133-139 MiB (2026-11-22,
 * bench/README.md). `memory: false` answers the counters only: the polls during a timed run (every 10-25 ms) then
 * do not read the process's memory (/proc) each time, which would be measurement work counted as the service's CPU.
 */
export type ChildRequest = { type: 'stats'; id: number; gc?: boolean; memory?: boolean } | { type: 'stop'; id: number };
export type ChildReply =
  | { type: 'ready'; info: Record<string, unknown> }
  | { type: 'stats'; id: number; stats: ChildStats }
  | { type: 'error'; id?: number; message: string };

/** How long a `gc: true` reading waits after the GC for V8 to return the freed pages (see ChildRequest). */
const SETTLE_MS = 1500;

export function serveChild(opts: { counters: () => { processed?: number; counters?: Record<string, number> }; shutdown: () => Promise<void> }): {
  ready(info: Record<string, unknown>): void;
} {
  let closing: Promise<void> | undefined;
  const stop = () => {
    closing ??= (async () => {
      const t = setTimeout(() => process.exit(1), 12_000);
      t.unref();
      try {
        await opts.shutdown();
      } finally {
        process.exit(0);
      }
    })();
    return closing;
  };
  process.on('message', (raw) => {
    const m = raw as ChildRequest;
    if (m.type === 'stats') {
      if (m.memory === false) {
        process.send?.({ type: 'stats', id: m.id, stats: opts.counters() } satisfies ChildReply);
        return;
      }
      const sendWithMemory = (extra: Partial<ChildStats> = {}) => {
        const mem = process.memoryUsage();
        process.send?.({ type: 'stats', id: m.id, stats: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, ...extra, ...opts.counters() } } satisfies ChildReply);
      };
      const gc = (globalThis as { gc?: () => void }).gc;
      if (!m.gc || !gc) return sendWithMemory();
      const rssBeforeGc = process.memoryUsage.rss();
      v8.setFlagsFromString('--compact-on-every-full-gc');
      gc();
      v8.setFlagsFromString('--no-compact-on-every-full-gc');
      setTimeout(() => sendWithMemory({ rssBeforeGc }), SETTLE_MS);
    } else if (m.type === 'stop') void stop();
  });
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  process.once('disconnect', () => void stop());
  return {
    ready(info) {
      process.send?.({ type: 'ready', info } satisfies ChildReply);
    },
  };
}

/** `--catalogue <path>` from argv (the services otherwise use the real seeds/crossings.json). */
export function catalogueArg(argv: string[] = process.argv.slice(2)): string | undefined {
  const i = argv.indexOf('--catalogue');
  return i >= 0 ? argv[i + 1] : undefined;
}

/** Stream, subject and durable of the raw baseline consumer (bench/services/baseline.ts). */
export const baselineNames = (prefix: string) => ({ stream: `${prefix.toUpperCase()}_BASE`, subject: `${prefix}.base.events`, durable: `${prefix}-base` });
