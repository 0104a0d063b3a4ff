import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyBaseLogger } from 'fastify';
import { createClientErrorHandler } from '../../services/api/errors.ts';

/** A socket that records what the handler does with it. */
function fakeSocket(state: { destroyed?: boolean; writable?: boolean; inFlightHeadersSent?: boolean } = {}) {
  const written: string[] = [];
  const destroyedWith: unknown[] = [];
  const socket = {
    destroyed: state.destroyed ?? false,
    writable: state.writable ?? true,
    _httpMessage: state.inFlightHeadersSent === undefined ? null : { headersSent: state.inFlightHeadersSent },
    write: (s: string) => written.push(s),
    destroy: (err?: unknown) => destroyedWith.push(err),
  };
  return { socket: socket as unknown as Socket, written, destroyedWith };
}

function fakeLog() {
  const lines: { level: string; obj: unknown; msg: string }[] = [];
  const at = (level: string) => (obj: unknown, msg: string) => lines.push({ level, obj, msg });
  return { log: { debug: at('debug'), trace: at('trace'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as FastifyBaseLogger, lines };
}

const parserError = (code: string, reason: string): ConnectionError =>
  Object.assign(new Error(`Parse Error: ${reason}`), { code, reason, bytesParsed: 0, rawPacket: Buffer.from('GET / HTTP/1.1\r\nAuthorization: Bearer secret\r\n') }) as unknown as ConnectionError;

const answer = (raw: string) => {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  return { statusLine: head.split('\r\n')[0], head, body: JSON.parse(body) as unknown };
};

describe('clientErrorHandler: what Node refuses before there is a request', () => {
  it('answers a header overflow with 431 headers_too_large naming the limit, in the error shape, then closes the socket', () => {
    const { socket, written, destroyedWith } = fakeSocket();
    const err = parserError('HPE_HEADER_OVERFLOW', 'Header overflow');
    createClientErrorHandler(fakeLog().log, 8192)(err, socket);
    expect(written).toHaveLength(1);
    const a = answer(written[0]!);
    expect(a.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(a.head).toMatch(/\r\nContent-Type: application\/json; charset=utf-8\r\n/);
    expect(a.head).toMatch(/\r\nConnection: close(\r\n|$)/);
    expect(a.body).toEqual({ error: 'headers_too_large', message: "request line and headers exceed the server's limit of 8192 bytes (shorten the URL or the headers)" });
    expect(destroyedWith).toEqual([err]);
  });

  it('answers a request that did not arrive in time with 408, and anything else the parser refuses with 400 and its reason', () => {
    const timeout = fakeSocket();
    createClientErrorHandler(fakeLog().log)(Object.assign(new Error('timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }) as unknown as ConnectionError, timeout.socket);
    expect(answer(timeout.written[0]!)).toMatchObject({ statusLine: 'HTTP/1.1 408 Request Timeout', body: { error: 'request_timeout' } });
    const bad = fakeSocket();
    createClientErrorHandler(fakeLog().log)(parserError('HPE_INVALID_METHOD', 'Invalid method encountered'), bad.socket);
    expect(answer(bad.written[0]!)).toEqual(expect.objectContaining({ statusLine: 'HTTP/1.1 400 Bad Request', body: { error: 'bad_request', message: 'the request is not valid HTTP/1.1 (Invalid method encountered)' } }));
  });

  it('as fastify and Node do: nothing for a reset or destroyed socket, no write to one not writable or over a response already on the wire', () => {
    const reset = fakeSocket();
    createClientErrorHandler(fakeLog().log)(Object.assign(new Error('reset'), { code: 'ECONNRESET' }) as unknown as ConnectionError, reset.socket);
    expect([reset.written, reset.destroyedWith]).toEqual([[], []]);
    const destroyed = fakeSocket({ destroyed: true });
    createClientErrorHandler(fakeLog().log)(parserError('HPE_INVALID_METHOD', 'Invalid method encountered'), destroyed.socket);
    expect([destroyed.written, destroyed.destroyedWith]).toEqual([[], []]);
    for (const state of [{ writable: false }, { inFlightHeadersSent: true }]) {
      const s = fakeSocket(state);
      createClientErrorHandler(fakeLog().log)(parserError('HPE_INVALID_METHOD', 'Invalid method encountered'), s.socket);
      expect(s.written).toEqual([]);
      expect(s.destroyedWith).toHaveLength(1);
    }
    // a response that was not started yet is not corrupted by the answer
    const idle = fakeSocket({ inFlightHeadersSent: false });
    createClientErrorHandler(fakeLog().log)(parserError('HPE_INVALID_METHOD', 'Invalid method encountered'), idle.socket);
    expect(idle.written).toHaveLength(1);
  });

  it('logs at debug, with the code and reason but not the raw bytes (they may hold credentials)', () => {
    const { log, lines } = fakeLog();
    createClientErrorHandler(log)(parserError('HPE_HEADER_OVERFLOW', 'Header overflow'), fakeSocket().socket);
    expect(lines).toEqual([{ level: 'debug', obj: { err: { code: 'HPE_HEADER_OVERFLOW', message: 'Parse Error: Header overflow' } }, msg: 'client error: 431 headers_too_large' }]);
    expect(JSON.stringify(lines)).not.toContain('secret');
  });
});
