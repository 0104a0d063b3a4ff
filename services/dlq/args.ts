/** Command line of the DLQ tool (main.ts): usage text and parsing into a command, or a UsageError naming the flag. */
import { parseArgs } from 'node:util';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { joinNegativeValues, parseArgsProblem } from '../../shared/cli-args.ts';
import { isCrossingToken, parseSeqs, parseSince, REASON_FILTERS } from './dlq.ts';

export const USAGE = `Usage: npm run dlq -- <command> [options]      (or: node --import tsx services/dlq/main.ts ...)

Inspect and redrive the dead-letter queue (stream <PREFIX>_DLQ, 30 days): events the estimator rejected.

Commands:
  stats     counts by reason and by crossing, oldest/newest time, total
  list      one line per dead letter, NEWEST FIRST:
              time  crossing  reason  first issue (path: message)  eventId=… type=…  seq=<DLQ seq>
  redrive   re-publish dead-lettered events to the events stream (msgID redrive:<dlq seq>:<eventId>); dead letters are NOT deleted

Options:
  --crossing <id>    only this crossing (stats, list, redrive with --reason); "unknown" = letters without a usable
                     crossingId; an id the catalogue lacks is taken with a note on stderr
  --since <when>     only dead letters stored since: a duration back from now (90s, 30m, 24h, 7d, 2w),
                     an ISO time with offset (2026-11-22T08:00:00+05:00) or a UTC date (2026-11-22)
  --reason <r>       only this reason (list, redrive): ${REASON_FILTERS.slice(0, 4).join(', ')},
                     ${REASON_FILTERS.slice(4).join(', ')}
  --limit <n>        list: the newest n (default 20; 0 = all); stderr says how many more match
  --json             list: NDJSON, one full dead letter per line plus dlqSeq/dlqSubject; stats: one JSON object
  --seq <n>[,<n>…]   redrive: these DLQ sequences (the seq= of list); repeatable; not with --reason/--crossing/--since
  --dry-run          redrive: show what would be published; publish nothing
  --yes              redrive: do not ask for confirmation (required when stdin is not a terminal)
  -h, --help         this text

redrive selects with --seq, or --reason [--crossing] [--since], and reports per dead letter:
  published   stored in the events stream (seq shown)
  duplicate   this dead letter was redriven in the last 2 h (nothing more to do)
  skipped     raw text (not JSON), not an event (no JSON object with an eventId), same eventId twice
  failed      the publish failed (exit 1)
Only a JSON event object is re-published, to the event's own subject (from its crossingId and direction; the
subject it came on only when those are unusable). Its vehicleRef is already pseudonymised (pseudonymising is
idempotent). The estimator checks it again: one it still rejects (too_late, invalid_event, ...) is dead-lettered
again. Redrive fits max_deliver_exceeded after an outage, unknown_crossing after a catalogue fix.

Environment:
  NATS_URL            NATS server(s), comma-separated (default nats://127.0.0.1:4222)
  NATS_USER           NATS user; with infra/nats/accounts.conf use "ops" (the only user that may read the DLQ)
  NATS_PASSWORD       password of NATS_USER
  NATS_INBOX_PREFIX   reply inbox prefix (default _INBOX_<NATS_USER>, _INBOX without a user)
  KEZEK_PREFIX        deployment namespace (default kezek: streams KEZEK_DLQ, KEZEK_EVENTS)

Exit codes: 0 done; 1 failed (stream missing, no permission, a publish failed, a --seq not found, redrive declined);
            2 usage or configuration error; 3 NATS unreachable.

Examples:
  npm run dlq -- stats --since 24h
  npm run dlq -- list --crossing korday --reason too_late --limit 50
  npm run -s dlq -- list --since 2026-11-22 --limit 0 --json > dlq.ndjson   # -s: no npm banner in the file
  npm run dlq -- redrive --reason max_deliver_exceeded --since 6h --dry-run
  NATS_USER=ops NATS_PASSWORD=... npm run dlq -- redrive --seq 1042,1043 --yes`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface Filters {
  crossing?: string;
  sinceMs?: number;
}
export type Command =
  | { cmd: 'help' }
  | ({ cmd: 'stats'; json: boolean } & Filters)
  | ({ cmd: 'list'; reason?: string; limit: number; json: boolean } & Filters)
  | ({ cmd: 'redrive'; seqs?: number[]; reason?: string; dryRun: boolean; yes: boolean } & Filters);

const OPTIONS = {
  crossing: { type: 'string' },
  since: { type: 'string' },
  reason: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  seq: { type: 'string', multiple: true },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const ALLOWED: Record<'stats' | 'list' | 'redrive', readonly string[]> = {
  stats: ['crossing', 'since', 'json'],
  list: ['crossing', 'since', 'reason', 'limit', 'json'],
  redrive: ['seq', 'reason', 'crossing', 'since', 'dry-run', 'yes'],
};

/** The crossing ids of the catalogue (seeds/crossings.json), read only when a --crossing needs checking. */
const catalogueCrossings = (): readonly string[] => loadCatalogue().crossings.map((c) => c.id);

/**
 * --crossing: any well-formed crossing id. The DLQ also holds letters of crossings the local catalogue lacks (an
 * unknown crossing with other problems is `invalid_event`, a crossing since removed, an operator's older checkout),
 * so an id outside the catalogue is taken, with a note (`crossingNote`) that main prints on stderr: a typo that then
 * matches nothing is visible, and no letter is out of reach.
 */
export function crossingNote(crossing: string, catalogue: () => readonly string[] = catalogueCrossings): string | undefined {
  if (crossing === 'unknown') return undefined;
  const known = catalogue();
  if (known.includes(crossing)) return undefined;
  return `note: --crossing "${crossing}" is not a crossing of the catalogue (${known.join(', ')}; "unknown" = letters without a usable crossingId): showing its DLQ subject anyway`;
}

function checkCrossing(crossing: string): string {
  if (!isCrossingToken(crossing)) throw new UsageError(`--crossing must be a crossing id like "korday" (lowercase, digits, -), got ${JSON.stringify(crossing)}`);
  return crossing;
}

/** Parses the command line into a command, or throws a UsageError naming the flag. */
export function parseCommand(argv: readonly string[], now = Date.now()): Command {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, OPTIONS), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(parseArgsProblem(err));
  }
  const { values: v, positionals } = parsed;
  if (v.help || positionals[0] === 'help') return { cmd: 'help' };
  const cmd = positionals[0];
  if (!cmd) throw new UsageError('missing command: stats, list or redrive');
  if (cmd !== 'stats' && cmd !== 'list' && cmd !== 'redrive') throw new UsageError(`unknown command "${cmd}": use stats, list or redrive`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  for (const [name, value] of Object.entries(v)) {
    if (value !== undefined && !ALLOWED[cmd].includes(name)) throw new UsageError(`--${name} is not an option of ${cmd}`);
  }

  const f: Filters = {};
  if (v.crossing !== undefined) f.crossing = checkCrossing(v.crossing);
  if (v.since !== undefined) {
    const t = parseSince(v.since, now);
    if (t === undefined) throw new UsageError(`--since must be a duration (30m, 24h, 7d) or an ISO time with offset / a date, got ${JSON.stringify(v.since)}`);
    f.sinceMs = t;
  }
  if (v.reason !== undefined && !REASON_FILTERS.includes(v.reason)) throw new UsageError(`--reason must be one of ${REASON_FILTERS.join(', ')}; got ${JSON.stringify(v.reason)}`);

  if (cmd === 'stats') return { cmd, json: Boolean(v.json), ...f };
  if (cmd === 'list') {
    let limit = 20;
    if (v.limit !== undefined) {
      if (!/^\d{1,9}$/.test(v.limit)) throw new UsageError(`--limit must be a whole number (0 = all), got ${JSON.stringify(v.limit)}`);
      limit = Number(v.limit);
    }
    return { cmd, reason: v.reason, limit, json: Boolean(v.json), ...f };
  }
  // redrive
  let seqs: number[] | undefined;
  if (v.seq !== undefined) {
    seqs = parseSeqs(v.seq);
    if (!seqs) throw new UsageError(`--seq must be DLQ sequence numbers (positive integers, comma-separated), got ${JSON.stringify(v.seq.join(','))}`);
    if (v.reason !== undefined) throw new UsageError('--seq and --reason select differently: use one of them');
    if (f.crossing !== undefined) throw new UsageError('--crossing goes with --reason, not with --seq');
    if (f.sinceMs !== undefined) throw new UsageError('--since goes with --reason, not with --seq');
  } else if (v.reason === undefined) {
    throw new UsageError('redrive needs --seq <n>[,<n>...] or --reason <r>');
  }
  return { cmd, seqs, reason: v.reason, dryRun: Boolean(v['dry-run']), yes: Boolean(v.yes), ...f };
}
