/**
 * Counting what a held Server-Sent Events stream delivered, from the raw text k6 collected (no k6 imports, so the
 * unit test can feed it real SSE framing). Follows the SSE framing rules: events are separated by a blank line,
 * `event:` names the type, lines starting with ':' are comments (the API's heartbeats).
 */

export interface StreamTally {
  /** Complete events by name (`event:` field; unnamed events count as "message"). */
  events: Record<string, number>;
  /** Total complete events. */
  eventCount: number;
  /** Comment lines (heartbeats). */
  heartbeats: number;
  /** Complete `event: estimate` payloads that parsed as JSON objects with a crossingId. */
  validEstimates: number;
  /** Events whose data was cut off by the hang-up (not an error: the client chose when to stop). */
  partial: boolean;
}

export function tallyStream(text: string): StreamTally {
  const tally: StreamTally = { events: {}, eventCount: 0, heartbeats: 0, validEstimates: 0, partial: false };
  // Only blocks followed by a blank line are complete; the tail after the last one was cut by the hang-up.
  const normalised = text.replace(/\r\n?/g, '\n');
  const blocks = normalised.split('\n\n');
  const tail = blocks.pop() ?? '';
  tally.partial = tail.trim() !== '' && !tail.split('\n').filter((l) => l !== '').every((l) => l.startsWith(':'));
  if (!tally.partial) blocks.push(tail);
  for (const block of blocks) {
    let name = '';
    const data: string[] = [];
    let hasField = false;
    for (const line of block.split('\n')) {
      if (line === '') continue;
      if (line.startsWith(':')) {
        tally.heartbeats++;
        continue;
      }
      const idx = line.indexOf(':');
      const field = idx < 0 ? line : line.slice(0, idx);
      const value = idx < 0 ? '' : line.slice(idx + 1).replace(/^ /, '');
      if (field === 'event') name = value;
      if (field === 'data') data.push(value);
      if (field === 'event' || field === 'data') hasField = true;
    }
    if (!hasField) continue;
    const eventName = name || 'message';
    tally.events[eventName] = (tally.events[eventName] ?? 0) + 1;
    tally.eventCount++;
    if (eventName === 'estimate' && isEstimate(data.join('\n'))) tally.validEstimates++;
  }
  return tally;
}

function isEstimate(data: string): boolean {
  try {
    const v: unknown = JSON.parse(data);
    return typeof v === 'object' && v !== null && typeof (v as { crossingId?: unknown }).crossingId === 'string';
  } catch {
    return false;
  }
}
