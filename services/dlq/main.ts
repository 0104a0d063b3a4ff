/**
 * CLI: inspect and redrive the dead-letter queue.
 *
 *   tsx services/dlq/main.ts stats|list|redrive [options]      (npm run dlq -- --help)
 *
 * Exit codes: 0 done; 1 failed (stream missing, no permission, a publish failed, a --seq not found, redrive
 * declined); 2 usage or configuration error; 3 NATS unreachable.
 */
import { createInterface } from 'node:readline/promises';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { loadConfigOrExit, type Config } from '../../shared/config.ts';
import { connectNats, natsSettings } from '../../shared/nats.ts';
import { natsConnectProblem } from '../../shared/cli.ts';
import { subjects } from '../../shared/events/subjects.ts';
import { crossingNote, parseCommand, USAGE, UsageError, type Command } from './args.ts';
import {
  collectStats,
  countOutcomes,
  DlqError,
  entryJson,
  formatEntry,
  formatOutcome,
  getDeadLetters,
  LIST_HEADER,
  listCutNote,
  listDeadLetters,
  planRedrive,
  redrive,
  scanDeadLetters,
  selectDeadLetters,
  type DlqEntry,
  type DlqStats,
  type ScanOptions,
} from './dlq.ts';

const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3 } as const;

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

function usageExit(message: string): never {
  err(`dlq: ${message}\n\nRun with --help for every option.`);
  process.exit(EXIT.usage);
}

async function connect(config: Config): Promise<NatsConnection> {
  try {
    // a CLI should not wait forever for a broker: a few reconnects, then the request fails and the command ends
    return await connectNats({ ...natsSettings(config), name: 'kezek-dlq', maxReconnectAttempts: 5 });
  } catch (e) {
    err(`dlq: ${natsConnectProblem(e, config.NATS_URL)}`);
    process.exit(EXIT.unreachable);
  }
}

/** "read N of M" on stderr, at most once a second, and only once a read takes longer than a second. */
function progressPrinter(): { onProgress: (read: number, total: number) => void; done: () => void } {
  const started = Date.now();
  let last = started;
  let shown = false;
  let latest = [0, 0];
  return {
    onProgress(read, total) {
      latest = [read, total];
      const now = Date.now();
      if (now - last >= 1000) {
        last = now;
        shown = true;
        err(`dlq: read ${read} of ${total}`);
      }
    },
    done() {
      if (shown) err(`dlq: read ${latest[0]} of ${latest[1]}`);
    },
  };
}

const pad = (s: string, n: number) => s.padEnd(n);

function printStats(st: DlqStats, stream: string, cmd: Extract<Command, { cmd: 'stats' }>): void {
  if (cmd.json) {
    out(JSON.stringify({ stream, ...(cmd.crossing ? { crossing: cmd.crossing } : {}), ...(cmd.sinceMs !== undefined ? { since: new Date(cmd.sinceMs).toISOString() } : {}), ...st }));
    return;
  }
  const scope = [cmd.crossing ? `crossing ${cmd.crossing}` : '', cmd.sinceMs !== undefined ? `since ${new Date(cmd.sinceMs).toISOString()}` : ''].filter(Boolean).join(', ');
  out(`${stream}${scope ? ` (${scope})` : ''}: ${st.total} dead letter${st.total === 1 ? '' : 's'}`);
  if (st.total === 0) return;
  out(`oldest ${st.oldest}   newest ${st.newest}`);
  const table = (title: string, counts: Record<string, number>) => {
    out(`by ${title}:`);
    for (const [k, n] of Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) out(`  ${pad(k, 24)}${String(n).padStart(8)}`);
  };
  table('reason', st.byReason);
  table('crossing', st.byCrossing);
}

/**
 * `list`: NDJSON or a header and one line per letter on stdout; on stderr, how many matching letters the limit left
 * out (stdout stays pure NDJSON for a redirect).
 */
function printList(entries: readonly DlqEntry[], matched: number, stream: string, json: boolean): void {
  if (json) for (const e of entries) out(entryJson(e));
  else if (entries.length === 0) err(`dlq: no dead letters match in ${stream}`);
  else {
    out(LIST_HEADER);
    for (const e of entries) out(formatEntry(e));
  }
  const note = listCutNote(entries.length, matched);
  if (note) err(`dlq: ${note}`);
}

async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(question);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

async function runRedrive(nc: NatsConnection, prefix: string, cmd: Extract<Command, { cmd: 'redrive' }>, scan: Omit<ScanOptions, 'prefix'>): Promise<number> {
  const s = subjects(prefix);
  let entries: DlqEntry[];
  let missing: number[] = [];
  if (cmd.seqs) {
    ({ entries, missing } = await getDeadLetters(nc, prefix, cmd.seqs));
    for (const seq of missing) err(`seq=${seq}: not in ${s.dlqStream} (expired after 30 days, deleted, or never there)`);
  } else {
    entries = await listDeadLetters(scanDeadLetters(nc, { prefix, ...scan }), { reason: cmd.reason, limit: 0 });
    entries.reverse(); // redrive oldest first
  }
  if (entries.length === 0) {
    out(`redrive: no dead letters selected`);
    return missing.length ? EXIT.failed : EXIT.ok;
  }
  const plans = planRedrive(prefix, entries);
  const toPublish = plans.filter((p) => p.action === 'publish').length;
  if (!cmd.dryRun && toPublish > 0 && !cmd.yes) {
    const SHOWN = 20;
    for (const p of plans.slice(0, SHOWN)) err(`  ${formatEntry(p.entry)}${p.action === 'skip' ? `  (skip: ${p.why})` : ''}`);
    if (plans.length > SHOWN) err(`  ... and ${plans.length - SHOWN} more (see them with --dry-run)`);
    const ok = await confirm(`Re-publish ${toPublish} of ${plans.length} selected dead letters to ${s.eventsStream}? Dead letters are not deleted. [y/N] `);
    if (!ok) {
      err('redrive: declined, nothing published');
      return EXIT.failed;
    }
  }
  const outcomes = await redrive(jetstream(nc), plans, { prefix, dryRun: cmd.dryRun, onOutcome: (o) => out(formatOutcome(o)) });
  const c = countOutcomes(outcomes);
  const parts = cmd.dryRun ? [`${c['would-publish']} would be published`] : [`${c.published} published`, `${c.duplicate} duplicate`];
  parts.push(`${c.skipped} skipped`);
  if (!cmd.dryRun) parts.push(`${c.failed} failed`);
  out(`redrive${cmd.dryRun ? ' (dry run: nothing published)' : ''}: ${parts.join(', ')} of ${plans.length}${missing.length ? `; ${missing.length} --seq not found` : ''}. Dead letters are not deleted.`);
  return c.failed > 0 || missing.length > 0 ? EXIT.failed : EXIT.ok;
}

async function main(): Promise<number> {
  let cmd: Command;
  try {
    cmd = parseCommand(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) usageExit(e.message);
    throw e;
  }
  if (cmd.cmd === 'help') {
    out(USAGE);
    return EXIT.ok;
  }
  const note = cmd.crossing === undefined ? undefined : crossingNote(cmd.crossing);
  if (note) err(`dlq: ${note}`);
  if (cmd.cmd === 'redrive' && !cmd.dryRun && !cmd.yes && !process.stdin.isTTY) {
    usageExit('redrive asks for confirmation, but stdin is not a terminal: add --yes to publish, or --dry-run to preview');
  }
  const config = loadConfigOrExit();
  const prefix = config.KEZEK_PREFIX;
  const s = subjects(prefix);
  const nc = await connect(config);
  const progress = progressPrinter();
  const scan = { crossing: cmd.crossing, sinceMs: cmd.sinceMs, onProgress: progress.onProgress };
  try {
    if (cmd.cmd === 'stats') {
      const st = await collectStats(scanDeadLetters(nc, { prefix, ...scan }));
      progress.done();
      printStats(st, s.dlqStream, cmd);
      return EXIT.ok;
    }
    if (cmd.cmd === 'list') {
      const { entries, matched } = await selectDeadLetters(scanDeadLetters(nc, { prefix, ...scan }), { reason: cmd.reason, limit: cmd.limit });
      progress.done();
      printList(entries, matched, s.dlqStream, cmd.json);
      return EXIT.ok;
    }
    return await runRedrive(nc, prefix, cmd, scan);
  } catch (e) {
    const msg = (e as Error).message || String(e);
    const hint = e instanceof DlqError ? '' : /permission|timeout|timed out|no responders/i.test(msg) ? ' (reading the DLQ needs a NATS user allowed to: NATS_USER=ops with infra/nats/accounts.conf)' : '';
    err(`dlq: ${msg}${hint}`);
    return EXIT.failed;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    err(`dlq failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(EXIT.failed);
  },
);
