/**
 * HTTP load generators of the polling row, each run as a child process (never in a server's event loop):
 * - `wrk` (Debian's package, C, one thread) when it is installed: it measures latency in microseconds and its own
 *   event loop adds little to what it measures, so the p99 is the server's;
 * - `autocannon` (a dev dependency, always there) otherwise. It is a Node process: at 20k+ req/s on 2 cores its own
 *   event-loop turns and GC pauses land in the latencies it records (whole milliseconds), so its p99 reads higher
 *   than wrk's against the same server (measured on this machine on 2026-11-22: bare route 5-6 ms vs 2.6-4.5 ms).
 * `BENCH_LOAD_TOOL=autocannon|wrk` picks one explicitly.
 */
import { execFileSync, spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LatencyTail } from './stats.ts';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadResult {
  reqPerSec: number;
  /** Latency percentiles in ms (wrk: microsecond resolution; autocannon: whole ms, truncated). */
  p50: number;
  p99: number;
  /** Responses by status class; wrk only tells 4xx/5xx apart from the rest, see `runLoad`. */
  ok2xx: number;
  ok3xx: number;
  other: number;
  /** Connection errors and timeouts. */
  errors: number;
  bytesPerReq: number;
  /** Requests completed. */
  requests: number;
  /** wrk only: the latency tail in ms, percentiles 90.00 to 100 in steps of 0.01, for pooling rounds exactly. */
  tail?: LatencyTail;
}

const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');

function wrkInstalled(): boolean {
  try {
    // `wrk -v` prints its version and exits 1; a missing binary throws ENOENT
    execFileSync('wrk', ['-v'], { stdio: 'pipe' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT' && typeof (err as { status?: unknown }).status === 'number';
  }
}

/** The load generator this run uses, with the reason (shown in the results). */
export function pickLoadTool(env: NodeJS.ProcessEnv = process.env): { tool: LoadTool; why: string } {
  const asked = env.BENCH_LOAD_TOOL;
  if (asked === 'autocannon') return { tool: 'autocannon', why: 'BENCH_LOAD_TOOL=autocannon' };
  if (asked === 'wrk') {
    if (!wrkInstalled()) throw new Error('BENCH_LOAD_TOOL=wrk but no wrk binary on PATH (apt-get install wrk)');
    return { tool: 'wrk', why: 'BENCH_LOAD_TOOL=wrk' };
  }
  if (asked !== undefined && asked !== '') throw new Error(`BENCH_LOAD_TOOL must be wrk or autocannon, got ${JSON.stringify(asked)}`);
  return wrkInstalled() ? { tool: 'wrk', why: 'wrk is installed' } : { tool: 'autocannon', why: 'wrk is not installed (apt-get install wrk for microsecond latencies)' };
}

/** wrk's summary as one JSON line (its `done` hook); latencies are in microseconds. */
const WRK_REPORT = `
done = function(summary, latency, requests)
  local e = summary.errors
  local tail = {}
  for k = 0, 1000 do tail[#tail + 1] = string.format('%d', latency:percentile(90 + k / 100)) end
  io.write(string.format('KEZEK_WRK {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p99":%d,"tail":[%s]}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), table.concat(tail, ',')))
end
`;
/**
 * A fleet of pollers (`runLoad`'s `rate`): each connection waits a random think time before its next request, drawn
 * from an exponential distribution whose mean (ms, the script's argument) makes the connections together offer the
 * asked rate. wrk's delay is whole milliseconds: rounding to the nearest keeps the mean. Latency is timed from the
 * request's write, so the think time is not in it.
 */
const WRK_FLEET = `
local meanMs = 0
init = function(args)
  meanMs = tonumber(args[1])
  math.randomseed(os.time())
end
delay = function()
  return math.floor(-math.log(1 - math.random()) * meanMs + 0.5)
end
`;
const wrkScripts = new Map<'closed' | 'fleet', string>();

function wrkScriptFile(kind: 'closed' | 'fleet'): string {
  let file = wrkScripts.get(kind);
  if (!file) {
    const dir = mkdtempSync(join(tmpdir(), 'kezek-bench-wrk-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    file = join(dir, `${kind}.lua`);
    writeFileSync(file, kind === 'fleet' ? WRK_FLEET + WRK_REPORT : WRK_REPORT);
    wrkScripts.set(kind, file);
  }
  return file;
}

/** Runs a tool in its own process group (a terminal Ctrl-C reaches the bench only) and collects its stdout. */
function detachedRun(bin: string, args: string[], done: (err: Error | null, stdout: string) => void, maxBuffer = 1024 * 1024): void {
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    if (out.length < maxBuffer) out += d.toString();
  });
  proc.once('error', (err) => done(err, out));
  proc.once('close', (code, signal) => done(code === 0 ? null : new Error(`${bin} exited with ${signal ?? code}`), out));
}

function runWrk(url: string, seconds: number, connections: number, headers: Record<string, string>, expect: '2xx' | '3xx', rate: number | undefined): Promise<LoadResult> {
  const script = wrkScriptFile(rate === undefined ? 'closed' : 'fleet');
  const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', script, ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url];
  if (rate !== undefined) args.push('--', String((connections * 1000) / rate));
  return new Promise((resolve, reject) => {
    detachedRun('wrk', args, (err, stdout) => {
      if (err) return reject(err);
      const line = stdout.split('\n').find((l) => l.startsWith('KEZEK_WRK '));
      if (!line) return reject(new Error(`wrk printed no summary: ${stdout.slice(0, 300)}`));
      const r = JSON.parse(line.slice('KEZEK_WRK '.length)) as { requests: number; durationUs: number; bytes: number; connect: number; read: number; write: number; status: number; timeout: number; p50: number; p99: number; tail: number[] };
      // wrk counts responses with a status >= 400 as `status` errors and does not tell 2xx from 3xx: the rest are
      // booked to the class the caller expects, which pollingRow checks with a request of its own beforehand
      const good = r.requests - r.status;
      resolve({
        reqPerSec: r.durationUs > 0 ? (r.requests * 1e6) / r.durationUs : 0,
        p50: r.p50 / 1000,
        p99: r.p99 / 1000,
        ok2xx: expect === '2xx' ? good : 0,
        ok3xx: expect === '3xx' ? good : 0,
        other: r.status,
        errors: r.connect + r.read + r.write + r.timeout,
        bytesPerReq: r.requests > 0 ? r.bytes / r.requests : 0,
        requests: r.requests,
        tail: { count: r.requests, fromPct: 90, stepPct: 0.01, values: r.tail.map((us) => us / 1000) },
      });
    });
  });
}

function runAutocannon(url: string, seconds: number, connections: number, headers: Record<string, string>, rate: number | undefined): Promise<LoadResult> {
  const args = [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds), ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`])];
  if (rate !== undefined) args.push('-R', String(Math.round(rate)));
  args.push(url);
  return new Promise((resolve, reject) => {
    detachedRun(process.execPath, args, (err, stdout) => {
      if (err) return reject(err);
      try {
        const r = JSON.parse(stdout) as {
          requests: { average: number; total: number };
          latency: { p50: number; p99: number };
          throughput: { total: number };
          errors: number;
          timeouts: number;
          '2xx': number;
          '3xx': number;
          '4xx': number;
          '5xx': number;
        };
        resolve({
          reqPerSec: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          ok2xx: r['2xx'],
          ok3xx: r['3xx'],
          other: r['4xx'] + r['5xx'],
          errors: r.errors + r.timeouts,
          bytesPerReq: r.requests.total > 0 ? r.throughput.total / r.requests.total : 0,
          requests: r.requests.total,
        });
      } catch (e) {
        reject(new Error(`autocannon output was not JSON: ${(e as Error).message}`));
      }
    });
  });
}

/** One response as a load generator gets it: status, headers and the body's bytes as sent (not decompressed). */
export interface PlainResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * A GET with exactly these headers, as wrk and autocannon send them (node:http adds only Host and Connection). NOT
 * fetch: it adds `Accept-Encoding: gzip, deflate`, so the API answers a different representation (gzipped, with the
 * `-gz` ETag) than the load generator gets; a bench that took its ETag from fetch measured 200s as "304s".
 */
export function plainGet(url: string, headers: Record<string, string> = {}): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    httpGet(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res
        .on('data', (d: Buffer) => chunks.push(d))
        .on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }))
        .on('error', reject);
    }).on('error', reject);
  });
}

/**
 * `connections` keep-alive connections sending GETs for `seconds`: back to back (closed loop, the server's most
 * requests per second), or, with `rate` (requests/s offered by all connections together), as a fleet of pollers
 * that think between polls (wrk: random think times, WRK_FLEET; autocannon: its fixed overall rate). `expect` is
 * the status class every response should have (wrk can only verify that none was >= 400; autocannon counts each class).
 */
export function runLoad(tool: LoadTool, url: string, seconds: number, connections: number, opts: { headers?: Record<string, string>; expect?: '2xx' | '3xx'; rate?: number } = {}): Promise<LoadResult> {
  const headers = opts.headers ?? {};
  if (opts.rate !== undefined && !(opts.rate > 0)) throw new Error(`runLoad: rate must be > 0, got ${opts.rate}`);
  return tool === 'wrk' ? runWrk(url, seconds, connections, headers, opts.expect ?? '2xx', opts.rate) : runAutocannon(url, seconds, connections, headers, opts.rate);
}
