/**
 * Outbound requests to addresses our users give us (webhook URLs), kept off the deployment's own network (SSRF).
 * A webhook URL must name a public address: not loopback, private (RFC 1918, unique-local), link-local (cloud
 * metadata at 169.254.169.254), carrier-grade NAT, unspecified, multicast or reserved. It is checked twice:
 * - when a subscription is created (`webhookTargetProblem`), so the caller gets a 400 naming the address;
 * - when it is delivered, on the address the connection actually uses (`postWebhook`'s DNS lookup refuses a
 *   non-public answer), so a host that resolved to a public address at subscription time and to 127.0.0.1 later
 *   (DNS rebinding) is refused too. Redirects are not followed.
 * `WEBHOOK_PRIVATE_TARGETS=on` lifts both checks for deployments whose receivers live on a private network
 * (and for tests with a receiver on 127.0.0.1).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", unspecified
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const) blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['64:ff9b::', 96], // NAT64 (reaches IPv4 addresses)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) blocked.addSubnet(net, prefix, 'ipv6');

/** True when `address` (an IPv4 or IPv6 literal) is a public unicast address a webhook may be sent to. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d, also written ::ffff:xxxx:xxxx): judged as the IPv4 address it maps to
    const mapped = /^::ffff:(?:0:)?(.+)$/i.exec(address)?.[1];
    if (mapped !== undefined) {
      if (isIP(mapped) === 4) return isPublicAddress(mapped);
      const hex = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(mapped);
      if (hex) {
        const n = (parseInt(hex[1]!, 16) << 16) | parseInt(hex[2]!, 16);
        return isPublicAddress([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'));
      }
      return false;
    }
    return !blocked.check(address, 'ipv6');
  }
  return !blocked.check(address, 'ipv4');
}

/** The host of a URL as an address literal when it is one (brackets of IPv6 removed), else undefined. */
function literalHost(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : undefined;
}

type Resolve = (host: string) => Promise<string[]>;
const resolveAll: Resolve = (host) =>
  new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs.map((a) => a.address)))));

/** How long the subscription-time check waits for DNS before it leaves the verdict to the delivery-time one. */
const CHECK_LOOKUP_MS = 2000;

/**
 * Why a webhook URL may not be used (undefined: it may): an address literal, or a host name that resolves now, to
 * a non-public address. A host that does not resolve (yet), or not within 2 s, is accepted: its deliveries are
 * checked again at connect time, and fail in the delivery log until it resolves (to a public address).
 */
export async function webhookTargetProblem(rawUrl: string, opts: { allowPrivate: boolean; resolve?: Resolve }): Promise<string | undefined> {
  if (opts.allowPrivate) return undefined;
  const url = new URL(rawUrl);
  const literal = literalHost(url);
  if (literal !== undefined) return isPublicAddress(literal) ? undefined : `${literal} is not a public address (loopback, private, link-local or reserved)`;
  let timer: NodeJS.Timeout | undefined;
  const addresses = await Promise.race([
    (opts.resolve ?? resolveAll)(url.hostname).catch(() => [] as string[]),
    new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), CHECK_LOOKUP_MS))),
  ]).finally(() => clearTimeout(timer));
  const bad = addresses.find((a) => !isPublicAddress(a));
  if (bad !== undefined) return `host ${url.hostname} resolves to ${bad}, which is not a public address (loopback, private, link-local or reserved)`;
  return undefined;
}

/** The error a refused connection fails with (its code is what the delivery log shows). */
export class PrivateTargetError extends Error {
  readonly code = 'EPRIVATETARGET';
}

/** dns.lookup for http(s).request that fails when any address of the host is not public. */
function publicOnlyLookup(
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addrs) => {
    if (err) return callback(err, '');
    const bad = addrs.find((a) => !isPublicAddress(a.address));
    if (bad) return callback(new PrivateTargetError(`${hostname} resolves to ${bad.address}, not a public address`), '');
    if (options.all) return callback(null, addrs);
    callback(null, addrs[0]!.address, addrs[0]!.family);
  });
}

/**
 * POSTs `body` to `url` (no redirects followed; the response body is discarded) and resolves with the status code.
 * Unless `allowPrivate`, a non-public address (literal, or what the host resolves to at connect time) fails with
 * PrivateTargetError before anything is sent.
 */
export function postWebhook(rawUrl: string, headers: Record<string, string>, body: string, opts: { timeoutMs: number; allowPrivate: boolean }): Promise<number> {
  const url = new URL(rawUrl);
  const literal = literalHost(url);
  if (!opts.allowPrivate && literal !== undefined && !isPublicAddress(literal)) {
    return Promise.reject(new PrivateTargetError(`${literal} is not a public address`));
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
      },
      (res: IncomingMessage) => {
        clearTimeout(timer);
        res.resume(); // discard the body
        res.on('error', () => undefined);
        resolve(res.statusCode ?? 0);
      },
    );
    // the whole exchange up to the response's status line, not just an idle socket
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`timed out after ${opts.timeoutMs} ms`), { name: 'TimeoutError' })), opts.timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}
