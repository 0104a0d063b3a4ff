/** Readiness polling of the API and the banner `npm start` prints once everything is up. */

/** Where to reach a server bound to `host` from this machine (a wildcard bind is reached via loopback). */
export function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '::' || host === '') return '127.0.0.1';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export interface WaitOptions {
  host: string;
  port: number;
  timeoutMs: number;
  /** Checked between polls; true stops waiting (shutdown requested, or the API process died). */
  cancelled: () => boolean;
}

/** Polls GET /healthz until it answers 200. Returns false on timeout or cancellation. */
export async function waitForHealthy(opts: WaitOptions): Promise<boolean> {
  const url = `http://${reachableHost(opts.host)}:${opts.port}/healthz`;
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline && !opts.cancelled()) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export interface BannerInfo {
  host: string;
  port: number;
  nats: string;
  redis: string;
  simulator: string;
}

export function banner(info: BannerInfo): string {
  const base = `http://${reachableHost(info.host)}:${info.port}`;
  const lines = [
    '',
    '  Kezek is running',
    '',
    `  Dashboard   ${base}/`,
    `  API         ${base}/v1/crossings`,
    `  API docs    ${base}/docs`,
    `  Health      ${base}/readyz`,
    `  NATS        ${info.nats}`,
    `  Redis       ${info.redis}`,
    `  Simulator   ${info.simulator}`,
    '',
    '  Stop with Ctrl-C (services stop in order, then the local servers).',
    '',
  ];
  return `${lines.join('\n')}\n`;
}
