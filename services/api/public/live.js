/**
 * Live estimates over Server-Sent Events (`GET /v1/stream`, `event: estimate`).
 *
 * EventSource reconnects by itself after a dropped connection and sends Last-Event-ID, so the server replays
 * what was missed. When the browser gives up (readyState CLOSED, e.g. after an HTTP error), we open a new
 * EventSource with capped exponential backoff. `onState` reports 'connecting' | 'live' | 'reconnecting' |
 * 'offline' for the connection indicator; `onReopen` fires when a connection is re-established after a drop so
 * the page can re-sync in case the server could not replay everything.
 */

export function connectLive({ url = '/v1/stream', onEstimate, onState, onReopen }) {
  let es = null;
  let retryTimer = null;
  let attempt = 0;
  let hadError = false;
  let stopped = false;

  const open = () => {
    if (stopped) return;
    onState(attempt === 0 && !hadError ? 'connecting' : 'reconnecting');
    es = new EventSource(url);
    es.addEventListener('open', () => {
      attempt = 0;
      onState('live');
      if (hadError) onReopen?.();
      hadError = false;
    });
    es.addEventListener('estimate', (ev) => {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return; // a malformed frame must not break the stream; the next estimate supersedes it anyway
      }
      onEstimate(data);
    });
    es.addEventListener('error', () => {
      hadError = true;
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        onState('offline');
        const delay = Math.min(30_000, 1000 * 2 ** attempt);
        attempt += 1;
        retryTimer = setTimeout(open, delay);
      } else {
        onState('reconnecting');
      }
    });
  };

  open();
  return {
    close() {
      stopped = true;
      clearTimeout(retryTimer);
      es?.close();
    },
  };
}
