/**
 * Composition root of the API process: config -> logger -> clients -> streams -> app.listen, and an ordered,
 * idempotent, bounded shutdown on SIGINT/SIGTERM (close the app: stop intake, end SSE, stop the view and the
 * webhook worker; then drain NATS; then quit Redis).
 *
 *   tsx services/api/main.ts           run the API (npm start runs it with the other services)
 *   tsx services/api/main.ts --help    usage, environment, exit codes
 *
 * Exit codes: see USAGE. Like the other tools, a problem the operator has to fix (an argument, a variable, a server)
 * is one line naming what to change, with no stack trace.
 */
import { EnvSchema, SECRET_VARIABLES, loadConfigOrExit } from '../../shared/config.ts';
import { createLogger } from '../../shared/logger.ts';
import { loadCatalogue } from '../../shared/catalogue/index.ts';
import { natsSettings, ensureStreams, isJetStreamDisabled } from '../../shared/nats.ts';
import { createApiReader } from './reader.ts';
import { buildApp } from './app.ts';
import { connectJetStreamOrExit, connectRedisOrExit, exitUnreachable, maskUrlPasswords, jetStreamDisabledProblem, onInterrupt } from '../../shared/cli.ts';

const USAGE = `Usage: tsx services/api/main.ts [--help]
Runs the Kezek HTTP API alone: the ingest gateway (POST /v1/events), the read API, Server-Sent Events, webhooks,
/docs and the officials' dashboard; it creates or updates the JetStream streams at boot. npm start runs it together
with NATS, Redis, the estimator and the simulator; run it alone against servers you already have.
It takes no other argument: every setting is an environment variable (PORT=3471, not --port 3471).
Environment: PSEUDONYM_KEY (required; the same key as the estimator and every producer), NATS_URL, NATS_USER,
  NATS_PASSWORD, NATS_INBOX_PREFIX, NATS_REPLICAS, REDIS_URL, REDIS_SENTINELS, REDIS_SENTINEL_NAME, HOST, PORT,
  KEZEK_PREFIX, API_TOKENS, READ_AUTH, RATE_LIMIT_PER_MINUTE, WRITE_RATE_LIMIT_PER_MINUTE, TRUST_PROXY, CORS_ORIGINS,
  WEBHOOK_PRIVATE_TARGETS, INGEST_RETRY_SECONDS, STALE_AFTER_SECONDS, STALE_QUIET_MAX_SECONDS, LOG_LEVEL
  (defaults and meanings: docs/operations.md)
Exit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime failure, 2 usage or configuration error (PSEUDONYM_KEY unset),
  3 cannot reach NATS (NATS_URL) or Redis (REDIS_URL), credentials refused, or NATS without JetStream`;

/**
 * The usage error for an argument (the API takes none). An option spelled like a variable (`--port 3471`,
 * `--nats-url=...`) is answered with the variable to set instead: it must not look accepted and leave the default.
 */
function unknownArgument(args: string[]): string {
  const [arg = '', next] = args;
  const option = /^--?([A-Za-z][\w-]*)(?:=(.*))?$/.exec(arg);
  const variable = option?.[1]?.toUpperCase().replace(/-/g, '_');
  if (option && variable && Object.hasOwn(EnvSchema.shape, variable)) {
    // never echo a secret (docs/security.md: config errors never print API_TOKENS, PSEUDONYM_KEY, NATS_PASSWORD), nor a
    // password inside a URL
    const given = option[2] ?? (next !== undefined && !next.startsWith('-') ? next : undefined);
    const value = given === undefined || SECRET_VARIABLES.has(variable) ? '<value>' : maskUrlPasswords(given);
    return `unknown argument ${arg.split('=')[0]}: the API takes its settings from environment variables; use ${variable}=${value} (e.g. ${variable}=${value} npx tsx services/api/main.ts; docs/operations.md)`;
  }
  return `unknown argument ${JSON.stringify(arg)}: the API takes no arguments; its settings are environment variables (docs/operations.md)`;
}

const SHUTDOWN_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (args.length > 0) {
    process.stderr.write(`${unknownArgument(args)}\n\nRun with --help for usage.\n`);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  // Like the estimator, simulator and replay: no built-in fallback key. A public key would make the pseudonyms of
  // plates posted here brute-forceable, and different from every other producer's (a `ps1_` value is never
  // re-pseudonymised), so arrivals would stop matching service starts. npm start passes its local key file's.
  if (!config.PSEUDONYM_KEY) {
    process.stderr.write(
      'Invalid configuration:\n  PSEUDONYM_KEY: required by the API (vehicle refs posted to /v1/events are pseudonymised before publishing); ' +
        'set the same key as the estimator and every producer (npm start generates a local one)\n',
    );
    process.exit(2);
  }
  const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
  const catalogue = loadCatalogue();
  const nc = await connectJetStreamOrExit({ ...natsSettings(config), name: 'kezek-api', logger });
  // as the estimator: a Redis that does not answer at boot stops the API (exit 3) instead of serving without state
  const redis = await connectRedisOrExit(config, { lazyConnect: false, maxRetriesPerRequest: 2 }, logger);
  await ensureStreams(nc, { prefix: config.KEZEK_PREFIX, replicas: config.NATS_REPLICAS }).catch((err: unknown) => {
    // JetStream switched off between the check above and here (a server restarted without -js)
    if (isJetStreamDisabled(err)) exitUnreachable(jetStreamDisabledProblem(config.NATS_URL));
    throw err;
  });
  const reader = createApiReader({ redis, prefix: config.KEZEK_PREFIX, catalogue, staleAfterSeconds: config.STALE_AFTER_SECONDS, maxSilenceSeconds: config.STALE_QUIET_MAX_SECONDS });

  const app = await buildApp({ config, catalogue, nc, redis, reader, logger });

  let stopping: Promise<void> | undefined;
  const shutdown = (signal: string): Promise<void> =>
    (stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      const timer = setTimeout(() => {
        logger.error('shutdown timed out; exiting');
        process.exit(1);
      }, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      try {
        await app.close();
      } catch (err) {
        logger.error({ err }, 'closing the app failed');
      }
      try {
        await nc.drain();
      } catch (err) {
        logger.warn({ err: { message: (err as Error).message } }, 'draining NATS failed');
      }
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
      clearTimeout(timer);
      logger.info('stopped');
    })());
  onInterrupt((signal) => void shutdown(signal).then(() => process.exit(0)));

  await app.listen({ host: config.HOST, port: config.PORT });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : config.PORT;
  const base = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  logger.info({ api: `${base}/v1`, docs: `${base}/docs`, openapi: `${base}/openapi.json`, dashboard: `${base}/` }, `API at ${base}/v1, docs at ${base}/docs, dashboard at ${base}/`);
}

main().catch((err: unknown) => {
  process.stderr.write(`api: failed to start: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
