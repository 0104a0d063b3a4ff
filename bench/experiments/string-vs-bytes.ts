/**
 * Experiment behind services/api/lookup.ts's `sendCached` sending bytes: server CPU per request of a Fastify route
 * returning the same ~10 kB JSON document as a string or as a Buffer encoded once, under the polling row's load
 * generator (bench/lib/load.ts: wrk when installed; 50 connections, 3 s per variant, 3 alternating rounds).
 * `node --import tsx bench/experiments/string-vs-bytes.ts`.
 * On 2026-11-22: string 53-83, bytes 38-51 us of server CPU per request (13-19k vs 20-26k req/s), over two runs.
 */
import Fastify from 'fastify';
import { pickLoadTool, runLoad } from '../lib/load.ts';

const { tool } = pickLoadTool();
const doc = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ id: `q-${i}`, wait: i * 37, label: `Қордай ${i}` })) });
const bytes = Buffer.from(doc, 'utf8');
const app = Fastify({ logger: false });
app.get('/string', async (_request, reply) => reply.type('application/json; charset=utf-8').send(doc));
app.get('/bytes', async (_request, reply) => reply.type('application/json; charset=utf-8').send(bytes));
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const port = typeof addr === 'object' && addr ? addr.port : 0;
console.log(`document: ${bytes.length} bytes; load: ${tool}`);
for (let round = 0; round < 3; round++) {
  for (const path of ['/string', '/bytes']) {
    const before = process.cpuUsage();
    const r = await runLoad(tool, `http://127.0.0.1:${port}${path}`, 3, 50);
    const used = process.cpuUsage(before);
    console.log(`${path.padEnd(8)} ${r.requests} requests, ${((used.user + used.system) / r.requests).toFixed(1)} us of server CPU per request, ${Math.round(r.reqPerSec)} req/s`);
  }
}
await app.close();
