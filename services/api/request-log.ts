/**
 * The API's access-log policy and its per-request logger.
 *
 * Firms poll every few seconds, so logging every successful read at `info` would write two lines per poll (tens of
 * thousands a second under load) and bury what matters. Policy (ApiLogController):
 * - one line per request, when it completes (with method, url and status), no separate "incoming request" line;
 * - `info` for writes (POST/DELETE...) and for every response with status >= 400, `error` when the response failed;
 * - successful reads (GET/HEAD/OPTIONS, status < 400) at `debug` (LOG_LEVEL=debug shows them all).
 *
 * Fastify gives every request a child logger (`request.log`, bound to its reqId). Creating a pino child costs a
 * few microseconds, a measurable part of a poll that logs nothing; `lazyChildLogger` creates it on first use and
 * skips calls below the parent's level without creating it.
 */
import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Bindings, ChildLoggerOptions, LevelWithSilentOrString } from 'pino';

const READ_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class ApiLogController extends LogController {
  override incomingRequest(): void {
    // the completion line carries the request
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (this.isLogDisabled(request)) return;
    const log = reply.log;
    if (error) log.error({ req: request, res: reply, responseTime: reply.elapsedTime, err: error }, 'request errored');
    else if (reply.statusCode >= 400 || !READ_METHODS.has(request.method)) log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
    else if ((log as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.('debug') ?? true) log.debug({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

type LogFn = FastifyBaseLogger['info'];
type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** A request logger that becomes a real pino child only when something is logged at an enabled level. */
class LazyChildLogger {
  #real: FastifyBaseLogger | undefined;
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #opts: ChildLoggerOptions;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#opts = opts;
  }

  #logger(): FastifyBaseLogger {
    return (this.#real ??= this.#parent.child(this.#bindings, this.#opts));
  }

  /** Without a route-level level, the child logs exactly what the parent would. */
  #enabled(level: Level): boolean {
    if (this.#real || this.#opts.level !== undefined) return (this.#logger() as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true;
    return (this.#parent as { isLevelEnabled?: (l: string) => boolean }).isLevelEnabled?.(level) ?? true;
  }

  #call(level: Level, args: Parameters<LogFn>): void {
    if (this.#enabled(level)) (this.#logger()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): LevelWithSilentOrString {
    return this.#real?.level ?? this.#opts.level ?? this.#parent.level;
  }

  set level(level: LevelWithSilentOrString) {
    this.#logger().level = level;
  }

  fatal(...args: Parameters<LogFn>): void {
    this.#call('fatal', args);
  }

  error(...args: Parameters<LogFn>): void {
    this.#call('error', args);
  }

  warn(...args: Parameters<LogFn>): void {
    this.#call('warn', args);
  }

  info(...args: Parameters<LogFn>): void {
    this.#call('info', args);
  }

  debug(...args: Parameters<LogFn>): void {
    this.#call('debug', args);
  }

  trace(...args: Parameters<LogFn>): void {
    this.#call('trace', args);
  }

  silent(): void {}

  child(bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#logger().child(bindings, opts);
  }

  isLevelEnabled(level: string): boolean {
    return this.#enabled(level as Level);
  }
}

/** Fastify `childLoggerFactory`. */
export function lazyChildLogger(logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, opts) as unknown as FastifyBaseLogger;
}
