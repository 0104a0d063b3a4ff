import { describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { sendCached } from '../../services/api/lookup.ts';
import type { CachedBody } from '../../services/api/view.ts';

describe('sendCached', () => {
  it('sends the cached JSON as its UTF-8 bytes, encoded once, with its ETag; 304 when the client has it', async () => {
    const cached: CachedBody = { body: JSON.stringify({ crossing: 'Қорғас / 霍尔果斯', wait: 3600 }), etag: '"abc"' };
    const app = Fastify();
    app.get('/doc', async (request, reply) => sendCached(request, reply, cached));
    const first = await app.inject({ method: 'GET', url: '/doc' });
    expect(first.statusCode).toBe(200);
    expect(first.body).toBe(cached.body);
    expect(Number(first.headers['content-length'])).toBe(Buffer.byteLength(cached.body, 'utf8'));
    expect(first.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(first.headers.etag).toBe('"abc"');
    const bytes = cached.bytes;
    expect(bytes?.toString('utf8')).toBe(cached.body);
    const again = await app.inject({ method: 'GET', url: '/doc' });
    expect(again.body).toBe(cached.body);
    expect(cached.bytes).toBe(bytes); // the same buffer: not encoded again
    const notModified = await app.inject({ method: 'GET', url: '/doc', headers: { 'if-none-match': 'W/"abc"' } });
    expect(notModified.statusCode).toBe(304);
    expect(notModified.body).toBe('');
    await app.close();
  });
});
