/**
 * The one Lua loader. Each `lua/<name>-<numkeys>.lua` becomes an ioredis command `kezek<Name>` (EVALSHA with
 * EVAL fallback, via `defineCommand`); `-- @include "x"` lines are replaced by `lua/includes/x.lua`.
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
  numberOfKeys: number;
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
      const m = /^([a-z-]+)-(\d+)\.lua$/.exec(file);
      if (!m) throw new Error(`Lua script ${file} must be named <name>-<numkeys>.lua`);
      const name = m[1]!;
      return {
        name,
        command: `kezek${camel(name).replace(/^./, (c) => c.toUpperCase())}`,
        numberOfKeys: Number(m[2]),
        lua: resolveIncludes(readFileSync(join(LUA_DIR, file), 'utf8')),
      };
    });
  return cache;
}

const loaded = new WeakSet<Redis>();

/** Defines every script on the client (idempotent per client). */
export function loadScripts(redis: Redis): void {
  if (loaded.has(redis)) return;
  for (const s of scriptDefs()) redis.defineCommand(s.command, { numberOfKeys: s.numberOfKeys, lua: s.lua });
  loaded.add(redis);
}

export type ScriptName = 'apply-event' | 'apply-status' | 'read-window' | 'write-estimate';

/** Calls a loaded script by name; checks the key count against the file name. */
export async function callScript(redis: Redis, name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
  loadScripts(redis);
  const def = scriptDefs().find((s) => s.name === name);
  if (!def) throw new Error(`no Lua script named ${name}`);
  if (keys.length !== def.numberOfKeys) throw new Error(`${name} takes ${def.numberOfKeys} keys, got ${keys.length}`);
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[def.command]!;
  return fn.call(redis, ...keys, ...args);
}
