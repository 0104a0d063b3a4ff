/** shared/config.ts: defaults, and error messages that name the bad variable without echoing secrets. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, EnvSchema, parseConfig } from '../../shared/config.ts';

const errorOf = (env: Record<string, string | undefined>): ConfigError => {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('CONFIG_INVALID');
    return err as ConfigError;
  }
  throw new Error('expected parseConfig to throw');
};

describe('parseConfig', () => {
  it('an empty environment gives the documented defaults', () => {
    const c = parseConfig({});
    expect(c).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 3000,
      LOG_LEVEL: 'info',
      SIMULATOR: 'on',
      SIMULATOR_SPEED: 1,
      SIMULATOR_SEED: 42,
      API_TOKENS: [],
      READ_AUTH: 'off',
      RATE_LIMIT_PER_MINUTE: 600,
      WRITE_RATE_LIMIT_PER_MINUTE: 120,
      CORS_ORIGINS: '*',
      KEZEK_PREFIX: 'kezek',
      DATA_DIR: '.data',
      LOCAL_SERVERS: 'auto',
      STALE_AFTER_SECONDS: 900,
    });
    expect(c.NATS_URL).toBeUndefined();
    expect(c.REDIS_URL).toBeUndefined();
    expect(c.PSEUDONYM_KEY).toBeUndefined();
    expect(c.NATS_USER).toBeUndefined();
  });

  it('empty strings count as unset (a blank line in .env does not override a default)', () => {
    const c = parseConfig({ PORT: '', NATS_URL: '' });
    expect(c.PORT).toBe(3000);
    expect(c.NATS_URL).toBeUndefined();
  });

  it('numbers are coerced and URL lists accepted', () => {
    const c = parseConfig({ PORT: '8080', NATS_URL: 'nats://a:4222, nats://b:4222', REDIS_URL: 'rediss://r:6380', SIMULATOR_SPEED: '60' });
    expect(c.PORT).toBe(8080);
    expect(c.SIMULATOR_SPEED).toBe(60);
    expect(c.NATS_URL).toContain('nats://b:4222');
  });

  it('numbers must be written in decimal: hex, exponents, Infinity and units are refused by name', () => {
    for (const [key, value] of [['STALE_QUIET_MAX_SECONDS', '0x10'], ['PORT', '8e3'], ['RATE_LIMIT_PER_MINUTE', 'Infinity'], ['STALE_AFTER_SECONDS', '900s'], ['SIMULATOR_SPEED', '0b11']]) {
      const err = errorOf({ [key!]: value });
      expect(err.message).toMatch(new RegExp(`^\\s+${key}: must be a decimal number`, 'm'));
      expect(err.message).toContain(JSON.stringify(value));
    }
    expect(parseConfig({ SIMULATOR_SPEED: ' 2.5 ', SIMULATOR_SEED: '-7', STALE_AFTER_SECONDS: '600' })).toMatchObject({ SIMULATOR_SPEED: 2.5, SIMULATOR_SEED: -7, STALE_AFTER_SECONDS: 600 });
  });

  it('STALE_QUIET_MAX_SECONDS set below STALE_AFTER_SECONDS is refused (left at its default it follows silently)', () => {
    const err = errorOf({ STALE_AFTER_SECONDS: '1800', STALE_QUIET_MAX_SECONDS: '900' });
    expect(err.message).toMatch(/STALE_QUIET_MAX_SECONDS: must be at least STALE_AFTER_SECONDS \(1800\).*"900"/);
    expect(parseConfig({ STALE_AFTER_SECONDS: '1800', STALE_QUIET_MAX_SECONDS: '1800' }).STALE_QUIET_MAX_SECONDS).toBe(1800);
    expect(parseConfig({ STALE_AFTER_SECONDS: '86400' }).STALE_QUIET_MAX_SECONDS).toBe(43_200); // raised where it is used
  });

  it('a bad PORT is named, with the value that was given', () => {
    const err = errorOf({ PORT: 'eighty' });
    expect(err.message).toMatch(/^\s+PORT: /m);
    expect(err.message).toContain('"eighty"');
    expect(errorOf({ PORT: '70000' }).message).toMatch(/PORT/);
  });

  it('TRUST_PROXY: none by default, a hop count, or proxy addresses / CIDRs; anything else is named', () => {
    expect(parseConfig({}).TRUST_PROXY).toBe(false);
    expect(parseConfig({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    expect(parseConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.5,::1,fd00::/8' }).TRUST_PROXY).toEqual(['10.0.0.0/8', '192.168.1.5', '::1', 'fd00::/8']);
    for (const bad of ['true', '0', '11', '10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2', '::1/129']) {
      expect(errorOf({ TRUST_PROXY: bad }).message, bad).toMatch(/^\s+TRUST_PROXY: must be a hop count/m);
    }
  });

  it('NATS_INBOX_PREFIX is one subject token', () => {
    expect(parseConfig({ NATS_INBOX_PREFIX: '_INBOX' }).NATS_INBOX_PREFIX).toBe('_INBOX');
    for (const bad of ['_INBOX.>', 'a.b', 'a*', 'has space']) expect(errorOf({ NATS_INBOX_PREFIX: bad }).message, bad).toMatch(/^\s+NATS_INBOX_PREFIX: must be one subject token/m);
  });

  it('every bad variable is reported, not only the first', () => {
    const err = errorOf({ PORT: '-1', LOG_LEVEL: 'loud', SIMULATOR: 'maybe' });
    for (const name of ['PORT', 'LOG_LEVEL', 'SIMULATOR']) expect(err.message).toMatch(new RegExp(`^\\s+${name}: `, 'm'));
  });

  it('a bad API_TOKENS entry is explained without revealing any token', () => {
    const secret = 'super-secret-token-value';
    const err = errorOf({ API_TOKENS: `producer:${secret},janitor:another-secret-value` });
    expect(err.message).toMatch(/API_TOKENS: entry 2: role must be one of reader, producer, official, admin/);
    expect(err.message).not.toContain(secret);
    expect(err.message).not.toContain('another-secret-value');

    const short = errorOf({ API_TOKENS: 'admin:short' });
    expect(short.message).toMatch(/API_TOKENS: entry 1 \(admin\): token must be at least 8 characters/);
    expect(short.message).not.toContain('short"');
  });

  it('valid API_TOKENS are parsed into role/token pairs', () => {
    expect(parseConfig({ API_TOKENS: 'producer:abcdefgh, admin:12345678' }).API_TOKENS).toEqual([
      { role: 'producer', token: 'abcdefgh' },
      { role: 'admin', token: '12345678' },
    ]);
  });

  it('a bad KEZEK_PREFIX is named (it becomes part of subjects, stream names and Redis keys)', () => {
    for (const bad of ['Kezek', '1abc', 'a.b', 'a-b', 'x'.repeat(33)]) {
      expect(errorOf({ KEZEK_PREFIX: bad }).message).toMatch(/KEZEK_PREFIX: must be lowercase letters/);
    }
    expect(parseConfig({ KEZEK_PREFIX: 't3f9a1c2' }).KEZEK_PREFIX).toBe('t3f9a1c2');
  });

  it('a short PSEUDONYM_KEY is rejected without echoing it', () => {
    const err = errorOf({ PSEUDONYM_KEY: 'tooshortkey' });
    expect(err.message).toMatch(/PSEUDONYM_KEY: must be at least 16 characters/);
    expect(err.message).not.toContain('tooshortkey');
  });

  it('NATS and Redis URLs must use their schemes', () => {
    expect(errorOf({ NATS_URL: 'http://localhost:4222' }).message).toMatch(/NATS_URL: must be a URL .* nats: or tls:/);
    expect(errorOf({ REDIS_URL: 'localhost:6379,' }).message).toMatch(/REDIS_URL/);
    // one Redis node: a list was accepted by the check and then failed as one malformed URL in the client
    expect(errorOf({ REDIS_URL: 'redis://a:6379,redis://b:6379' }).message).toMatch(/REDIS_URL: must be one URL with scheme redis: or rediss: \(several nodes: REDIS_SENTINELS/);
  });

  it('LOCAL_SERVERS accepts auto or spawn only', () => {
    expect(parseConfig({ LOCAL_SERVERS: 'spawn' }).LOCAL_SERVERS).toBe('spawn');
    expect(errorOf({ LOCAL_SERVERS: 'always' }).message).toMatch(/LOCAL_SERVERS/);
  });

  it('NATS credentials are optional and a bad one is reported without its value', () => {
    expect(parseConfig({ NATS_USER: 'api', NATS_PASSWORD: 'pw-1' })).toMatchObject({ NATS_USER: 'api', NATS_PASSWORD: 'pw-1' });
    const err = errorOf({ NATS_USER: '   ' });
    expect(err.message).toMatch(/NATS_USER/);
  });

  it('every variable is documented in the configuration table of docs/operations.md', () => {
    const doc = readFileSync(join(import.meta.dirname, '../../docs/operations.md'), 'utf8');
    const documented = new Set([...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]));
    for (const key of Object.keys(EnvSchema.shape)) expect(documented.has(key), `${key} missing from docs/operations.md`).toBe(true);
  });
});
