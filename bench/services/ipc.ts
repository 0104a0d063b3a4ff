/**
 * The IPC protocol between the benchmark runner and its child services, and the child side of it: answer
 * `stats` with the service's counters and process memory, run the service's ordered shutdown on `stop`
 * (or SIGTERM/SIGINT, or when the runner disappears), then exit.
 */
export interface ChildStats {
  /** Process memory (bytes); absent when the request said `memory: false`. */
  rss?: number;
  /** V8 heap in use, and what V8 holds committed for it (in RSS even when unused: pages kept after a GC). */
  heapUsed?: number;
  heapTotal?: number;
  /** Messages the service applied/acked (estimator: applied + duplicates; baseline: processed). */
  processed?: number;
  /** Service-specific counters. */
  counters?: Record<string, number>;
}

/**
 * `gc: true` runs a full garbage collection first (children start with --expose-gc), so memory readings are not GC
 * timing noise. `memory: false` answers the counters only: the polls during a timed run (every 10-25 ms) then do
 * not read the process's memory (/proc) each time, which would be measurement work counted as the service's CPU.
 */
export type ChildRequest = { type: 'stats'; id: number; gc?: boolean; memory?: boolean } | { type: 'stop'; id: number };
export type ChildReply =
  | { type: 'ready'; info: Record<string, unknown> }
  | { type: 'stats'; id: number; stats: ChildStats }
  | { type: 'error'; id?: number; message: string };

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
      const gc = (globalThis as { gc?: () => void }).gc;
      if (m.gc && gc) gc();
      const mem = process.memoryUsage();
      const reply: ChildReply = { type: 'stats', id: m.id, stats: { rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, ...opts.counters() } };
      process.send?.(reply);
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
