/**
 * The one Lua loader. Each `lua/<name>-<numkeys>.lua` becomes an ioredis command `kezek<Name>` (EVALSHA with
 * EVAL fallback, via `defineCommand`); `-- @include "x"` lines are replaced by `lua/includes/x.lua`. `<numkeys>` is
 * `n` for a script that takes a variable number of keys (the caller's key list is sent with its length).
 * Only store.ts calls these commands.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

const LUA_DIR = fileURLToPath(new URL('./lua/', import.meta.url));
const INCLUDE_RE = /^-- @include "([a-z0-9-]+)"$/gm;

export interface ScriptDef {
  name: string;
  command: string;
  /** null: variable (`-n.lua`). */
  numberOfKeys: number | null;
  lua: string;
}

function resolveIncludes(src: string, seen: Set<string> = new Set()): string {
  return src.replace(INCLUDE_RE, (_m, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return resolveIncludes(readFileSync(join(LUA_DIR, 'includes', `${name}.lua`), 'utf8'), seen);
  });
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

let cache: ScriptDef[] | undefined;

/** Every script in lua/, parsed once per process. */
export function scriptDefs(): ScriptDef[] {
  cache ??= readdirSync(LUA_DIR)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^([a-z-]+)-(\d+|n)\.lua$/.exec(file);
      if (!m) throw new Error(`Lua script ${file} must be named <name>-<numkeys|n>.lua`);
      const name = m[1]!;
      return {
        name,
        command: `kezek${camel(name).replace(/^./, (c) => c.toUpperCase())}`,
        numberOfKeys: m[2] === 'n' ? null : Number(m[2]),
        lua: resolveIncludes(readFileSync(join(LUA_DIR, file), 'utf8')),
      };
    });
  return cache;
}

let byName: Map<string, ScriptDef> | undefined;
const defsByName = () => (byName ??= new Map(scriptDefs().map((d) => [d.name, d])));

const loaded = new WeakSet<Redis>();

/** Defines every script on the client (idempotent per client). */
export function loadScripts(redis: Redis): void {
  if (loaded.has(redis)) return;
  for (const s of scriptDefs()) redis.defineCommand(s.command, s.numberOfKeys === null ? { lua: s.lua } : { numberOfKeys: s.numberOfKeys, lua: s.lua });
  loaded.add(redis);
}

export type ScriptName = 'apply-events' | 'apply-status' | 'read-window' | 'write-estimate';

interface Queued {
  command: string;
  argv: (string | number)[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/**
 * Script calls (and `pipelined` commands) made in the same tick, per client, go out as ONE pipeline (one socket
 * write, replies in one read). Each call is still its own EVALSHA, atomic on its own, and resolves with its own reply or error: batching
 * changes the number of system calls, not what any call does. Under load this removes the per-call write and
 * wake-up that dominated the estimator's CPU profile.
 */
const queues = new WeakMap<Redis, Queued[]>();
/** A pipeline goes out as soon as it holds this many calls (bounds one write and one burst of Redis work). */
const MAX_PIPELINE = 64;

function flush(redis: Redis): void {
  const batch = queues.get(redis);
  queues.delete(redis);
  if (!batch || batch.length === 0) return;
  if (batch.length === 1) {
    const only = batch[0]!;
    const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[only.command]!;
    fn.apply(redis, only.argv).then(only.resolve, only.reject);
    return;
  }
  const pipe = redis.pipeline() as unknown as Record<string, (...a: (string | number)[]) => unknown> & { exec(): Promise<[Error | null, unknown][] | null> };
  for (const q of batch) pipe[q.command]!.apply(pipe, q.argv);
  pipe.exec().then(
    (results) => {
      batch.forEach((q, i) => {
        const r = results?.[i];
        if (!r) q.reject(new Error('pipeline returned no reply'));
        else if (r[0]) q.reject(r[0]);
        else q.resolve(r[1]);
      });
    },
    (err: unknown) => {
      for (const q of batch) q.reject(err);
    },
  );
}

/** Calls a loaded script by name (pipelined with the other calls of the same tick); checks the key count. */
export function callScript(redis: Redis, name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  loadScripts(redis);
  const def = defsByName().get(name);
  if (!def) return Promise.reject(new Error(`no Lua script named ${name}`));
  if (def.numberOfKeys !== null && keys.length !== def.numberOfKeys) return Promise.reject(new Error(`${name} takes ${def.numberOfKeys} keys, got ${keys.length}`));
  const argv = def.numberOfKeys === null ? [keys.length, ...keys, ...args] : [...keys, ...args];
  return enqueue(redis, def.command, argv);
}

/** A plain command sent in the same pipeline as the script calls of its tick, after the calls queued before it. */
export function pipelined(redis: Redis, command: 'sadd', args: (string | number)[]): Promise<unknown> {
  return enqueue(redis, command, args);
}

function enqueue(redis: Redis, command: string, argv: (string | number)[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let q = queues.get(redis);
    if (!q) {
      q = [];
      queues.set(redis, q);
      process.nextTick(flush, redis);
    }
    q.push({ command, argv, resolve, reject });
    if (q.length >= MAX_PIPELINE) flush(redis); // the pending nextTick then finds nothing (or a newer, smaller batch)
  });
}
