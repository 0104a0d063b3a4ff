/**
 * Zod is the validator; JSON Schema is only documentation. `zs(schema)` converts a zod schema to JSON Schema
 * (zod 4 `z.toJSONSchema`) for @fastify/swagger and remembers which zod schema it came from, so the
 * validatorCompiler can validate with zod and produce precise `400 { error: 'bad_request', details }`.
 * Responses are serialised with JSON.stringify (response schemas document, they do not filter).
 */
import { z } from 'zod';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { HttpError, type ErrorDetail } from './errors.ts';
import { issueMessage } from '../../shared/events/v1.ts';

const registry = new WeakMap<object, z.ZodType>();
/** Schemas attached for documentation only; the handler validates (e.g. ingest, for per-event details). */
const docOnly = new WeakSet<object>();

export type JsonSchema = Record<string, unknown>;

/** JSON Schema for docs, linked back to its zod schema for validation. */
export function zs(schema: z.ZodType, extra: JsonSchema = {}): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  const out = { ...json, ...extra };
  registry.set(out, schema);
  return out;
}

/** A request schema shown in the docs but validated by the handler itself. */
export function docRequestSchema(schema: z.ZodType, extra: JsonSchema = {}): JsonSchema {
  const out = docSchema(schema, extra);
  docOnly.add(out);
  return out;
}

/** Documentation-only JSON Schema (responses), no validation link. */
export function docSchema(schema: z.ZodType, extra: JsonSchema = {}): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  delete json.$schema;
  return { ...json, ...extra };
}

export function formatZodPath(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

export function zodDetails(error: z.ZodError, prefix = ''): ErrorDetail[] {
  return error.issues.map((i) => {
    const path = [prefix, formatZodPath(i.path)].filter(Boolean).join('.');
    if (i.code === 'unrecognized_keys') return { path: path || prefix, message: `unknown parameter(s): ${i.keys.join(', ')}` };
    return { path, message: issueMessage(i) };
  });
}

const PART_NAME: Record<string, string> = { querystring: 'query', params: 'path', body: 'body', headers: 'headers' };

export function installZodValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (docOnly.has(schema as object)) return (data: unknown) => ({ value: data });
    const zod = registry.get(schema as object);
    if (!zod) throw new Error(`route schema for ${httpPart ?? '?'} was not built with zs()`);
    const part = PART_NAME[httpPart ?? ''] ?? String(httpPart);
    const memo = httpPart === 'params' || httpPart === 'querystring' ? createParseMemo() : undefined;
    return (data: unknown) => {
      const key = memo?.keyOf(data);
      if (key !== undefined) {
        const hit = memo!.get(key);
        if (hit !== undefined) return { value: hit };
      }
      const res = zod.safeParse(data ?? {});
      if (res.success) {
        if (key !== undefined) memo!.set(key, Object.freeze(res.data));
        return { value: res.data };
      }
      const details = zodDetails(res.error, part);
      const first = details[0];
      return { error: new HttpError('bad_request', first ? `invalid ${part}: ${first.path} ${first.message}` : `invalid ${part}`, details) };
    };
  });
  app.setSerializerCompiler(() => (data: unknown) => JSON.stringify(data));
}

/**
 * Polls repeat the same path and query thousands of times a second: successful parses of small flat string
 * records (path params, query strings) are remembered, so a repeated poll costs one Map lookup instead of a zod
 * parse. Only successes are kept (an invalid request is always re-validated, for its precise 400), the key is
 * the exact input (`name=value` pairs in order, NUL-separated), the memo is bounded (cleared when full), and a
 * remembered value is frozen, since every request with that input gets the same object.
 */
const MEMO_MAX_ENTRIES = 2048;
const MEMO_MAX_KEY_LENGTH = 512;

interface ParseMemo {
  keyOf(data: unknown): string | undefined;
  get(key: string): unknown;
  set(key: string, value: unknown): void;
}

function createParseMemo(): ParseMemo {
  const memo = new Map<string, unknown>();
  return {
    keyOf(data) {
      if (data === null || data === undefined) return '';
      if (typeof data !== 'object') return undefined;
      let key = '';
      for (const name in data) {
        const v = (data as Record<string, unknown>)[name];
        // a NUL inside a name or value (`%00`) could make two different inputs share a key: not remembered
        if (typeof v !== 'string' || v.includes('\u0000') || name.includes('\u0000')) return undefined;
        key += `${name}\u0000${v}\u0000`;
        if (key.length > MEMO_MAX_KEY_LENGTH) return undefined;
      }
      return key;
    },
    get: (key) => memo.get(key),
    set(key, value) {
      if (memo.size >= MEMO_MAX_ENTRIES) memo.clear();
      memo.set(key, value);
    },
  };
}

export type RouteSchema = FastifySchema & { tags?: string[]; summary?: string; description?: string; security?: unknown[] };
