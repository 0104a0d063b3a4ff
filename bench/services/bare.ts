/**
 * Benchmark child: the BARE baseline of the polling row. A Fastify server with no plugins, serving constant JSON
 * documents (read once from the files named by `--doc name=file`) at GET /bare/<name>.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { serveChild } from './ipc.ts';

// the documents as bytes, read once: the cheapest body Fastify can send (the API sends its cached documents the
// same way, services/api/lookup.ts sendCached), so the baseline is not slowed by encoding a string per response
const docs = new Map<string, Buffer>();
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--doc') {
    const [name, file] = (argv[++i] ?? '').split('=');
    docs.set(name!, readFileSync(file!));
  }
}
const app = Fastify({ logger: false });
app.get<{ Params: { name: string } }>('/bare/:name', async (request, reply) => {
  const body = docs.get(request.params.name);
  if (body === undefined) return reply.code(404).send({ error: 'not_found' });
  return reply.header('content-type', 'application/json; charset=utf-8').send(body);
});
const child = serveChild({ counters: () => ({}), shutdown: () => app.close() });
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) }); // PORT: when run by hand
const addr = app.server.address();
child.ready({ port: typeof addr === 'object' && addr ? addr.port : 0 });
