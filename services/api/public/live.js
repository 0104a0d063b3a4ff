/**
 * Live estimates over Server-Sent Events (`GET /v1/stream`, `event: estimate`).
 *
 * The stream is read with fetch() and a small SSE parser rather than EventSource, because EventSource hides the
 * server's heartbeat comments (`: heartbeat ...`, every 15 s): a connection that stalls (proxy or NAT dropping
 * packets, sockets left open) would otherwise look live for ever. Here any byte received re-arms a watchdog; no
 * byte for `silenceMs` (two heartbeats and a margin) counts as a dead connection, which is aborted and reopened;
 * so does a request with no answer (headers) within `connectTimeoutMs`.
 *
 * Like EventSource: the request carries `Last-Event-ID` (the `id:` of the last event received) so the server
 * replays what was missed, and the server's `retry:` sets the reconnection delay, doubled after each failed
 * attempt up to `maxRetryMs`. `onState(state, { since })` reports 'connecting' | 'live' | 'reconnecting' |
 * 'offline' for the connection indicator: 'reconnecting' right after a drop, 'offline' once reconnecting has
 * failed for `offlineAfterMs`; `since` is when the page last heard from the server. `onReopen` fires when a
 * connection is re-established after a drop so the page can re-sync in case the server could not replay
 * everything. No DOM access at import time, so Node tests can import the parser.
 */
/* global AbortController, TextDecoder */

export const SILENCE_MS = 35_000;
/** The API answers a stream request with its headers at once (before any replay): a longer wait is a dead request. */
export const CONNECT_TIMEOUT_MS = 10_000;
export const OFFLINE_AFTER_MS = 30_000;

/**
 * An incremental parser for the `text/event-stream` format (WHATWG HTML, "Server-sent events"): feed it decoded
 * text in chunks of any size with `push`; it calls `onEvent({ type, data, lastEventId })` per dispatched event and
 * `onRetry(ms)` for a `retry:` field. Comment lines (`:` first) are ignored; lines end in CRLF, LF or CR.
 */
export function createSseParser({ onEvent, onRetry }) {
  let buf = '';
  let data = [];
  let type = '';
  let idBuffer = '';
  let lastEventId = '';
  let atStart = true;
  let skipLf = false;

  const dispatch = () => {
    lastEventId = idBuffer;
    if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), lastEventId });
    data = [];
    type = '';
  };
  const line = (l) => {
    if (l === '') return dispatch();
    if (l[0] === ':') return undefined;
    const colon = l.indexOf(':');
    const field = colon === -1 ? l : l.slice(0, colon);
    let value = colon === -1 ? '' : l.slice(colon + 1);
    if (value[0] === ' ') value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') type = value;
    else if (field === 'id') {
      if (!value.includes('\0')) idBuffer = value;
    } else if (field === 'retry' && /^\d+$/.test(value)) onRetry?.(Number(value));
    return undefined;
  };

  return {
    push(chunk) {
      let text = chunk;
      if (atStart && text.length) {
        atStart = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      // a CR that ended the previous chunk may be the first half of a CRLF
      if (skipLf && text.length) {
        skipLf = false;
        if (text[0] === '\n') text = text.slice(1);
      }
      buf += text;
      const eol = /\r\n|\r|\n/g;
      let pos = 0;
      for (let m = eol.exec(buf); m; m = eol.exec(buf)) {
        line(buf.slice(pos, m.index));
        pos = eol.lastIndex;
        if (m[0] === '\r' && pos === buf.length) skipLf = true;
      }
      buf = buf.slice(pos);
    },
    /** The id of the last dispatched event ('' before any), as EventSource's `lastEventId`. */
    get lastEventId() {
      return lastEventId;
    },
  };
}

export function connectLive({
  url = '/v1/stream',
  onEstimate,
  onState,
  onReopen,
  silenceMs = SILENCE_MS,
  connectTimeoutMs = CONNECT_TIMEOUT_MS,
  offlineAfterMs = OFFLINE_AFTER_MS,
  maxRetryMs = 15_000,
}) {
  let controller = null;
  let watchdog = null;
  let retryTimer = null;
  let offlineTimer = null;
  let retryMs = 3000; // EventSource's usual default until the server sends `retry:`
  let attempt = 0;
  let lastEventId = '';
  let hadError = false;
  let stopped = false;
  let state = null;
  /** When the page last heard from the server (a byte, or the moment the stream opened). */
  let heardAt = Date.now();

  const report = (s) => {
    state = s;
    onState(s, { since: heardAt });
  };

  /** No answer within connectTimeoutMs, or no byte for silenceMs inside the stream: drop and reconnect. */
  const armWatchdog = (ctrl, ms) => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => ctrl.abort(), ms);
  };

  const failed = () => {
    clearTimeout(watchdog);
    if (stopped) return;
    hadError = true;
    // the first failure since the stream was last live: reconnecting now, offline if it lasts
    offlineTimer ??= setTimeout(() => {
      if (!stopped && state !== 'live') report('offline');
    }, offlineAfterMs);
    if (state !== 'offline') report('reconnecting');
    const delay = Math.min(maxRetryMs, retryMs * 2 ** attempt);
    attempt += 1;
    retryTimer = setTimeout(open, delay);
  };

  async function open() {
    if (stopped) return;
    if (state === null) report('connecting');
    const ctrl = new AbortController();
    controller = ctrl;
    armWatchdog(ctrl, connectTimeoutMs);
    try {
      const headers = { accept: 'text/event-stream' };
      if (lastEventId) headers['last-event-id'] = lastEventId;
      const res = await fetch(url, { headers, cache: 'no-store', signal: ctrl.signal });
      if (!res.ok || !res.body || !/^text\/event-stream/i.test(res.headers.get('content-type') ?? '')) {
        void res.body?.cancel().catch(() => undefined);
        throw new Error(`stream answered HTTP ${res.status}`);
      }
      heardAt = Date.now();
      armWatchdog(ctrl, silenceMs);
      attempt = 0;
      clearTimeout(offlineTimer);
      offlineTimer = null;
      report('live');
      if (hadError) onReopen?.();
      hadError = false;
      const parser = createSseParser({
        onRetry: (ms) => {
          retryMs = Math.max(500, ms);
        },
        onEvent: (ev) => {
          lastEventId = ev.lastEventId;
          if (ev.type !== 'estimate') return;
          let payload;
          try {
            payload = JSON.parse(ev.data);
          } catch {
            return; // a malformed frame must not break the stream; the next estimate supersedes it anyway
          }
          onEstimate(payload);
        },
      });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        heardAt = Date.now();
        armWatchdog(ctrl, silenceMs);
        parser.push(decoder.decode(value, { stream: true }));
      }
    } catch {
      // network error, HTTP error, watchdog abort or close(): all handled below
    }
    failed();
  }

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(watchdog);
      clearTimeout(offlineTimer);
      controller?.abort();
    },
  };
}
