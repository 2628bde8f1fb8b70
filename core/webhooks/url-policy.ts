// Where webhooks may go: an allow-list policy against server-side request forgery. A URL is refused
// when its scheme is not https (http only when allowed for development), when it carries
// credentials, when its host is not on the optional host allow-list, or when any address the host
// resolves to is loopback, private, link-local, CGNAT, multicast, reserved or documentation space
// (unless private targets are allowed for development). Checked when a run is submitted and again
// right before each delivery (DNS can change in between).
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export interface WebhookUrlPolicy {
  /** Allow loopback/private/link-local targets (development and tests only). */
  allowPrivate: boolean;
  /** Allow plain http (development and tests only). */
  allowHttp: boolean;
  /** When non-empty, the host must equal one entry or match a `*.example.com` entry. */
  allowedHosts: readonly string[];
}

export const STRICT_WEBHOOK_POLICY: WebhookUrlPolicy = {
  allowPrivate: false,
  allowHttp: false,
  allowedHosts: [],
};

export type LookupFn = (host: string) => Promise<{ address: string; family: number }[]>;

export const defaultLookup: LookupFn = (host) => dnsLookup(host, { all: true, verbatim: true });

/** A name that does not resolve within this is refused (the API checks on the request path). */
export const LOOKUP_TIMEOUT_MS = 5000;
/**
 * Lookups in flight at once, per process: getaddrinfo runs on libuv's small thread pool, shared with
 * file I/O, crypto and sharp, so attacker-chosen names must not be able to fill it.
 */
export const LOOKUP_CONCURRENCY = 4;

let lookupsInFlight = 0;
const waitingLookups: (() => void)[] = [];

/** `lookup(host)` within the process-wide concurrency cap and the timeout. */
export async function boundedLookup(lookup: LookupFn, host: string, timeoutMs = LOOKUP_TIMEOUT_MS) {
  if (lookupsInFlight >= LOOKUP_CONCURRENCY) await new Promise<void>((r) => waitingLookups.push(r));
  lookupsInFlight++;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      lookup(host),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    lookupsInFlight--;
    waitingLookups.shift()?.();
  }
}

export type UrlVerdict = { ok: true; url: URL; addresses: string[] } | { ok: false; reason: string };

const blocked = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this" network
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // CGNAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
] as const)
  blocked.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4 can embed any IPv4
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
] as const)
  blocked.addSubnet(net, prefix, 'ipv6');

/** The 16 bytes of an IPv6 address (assumes isIP(a) === 6). */
function ipv6Bytes(address: string): number[] {
  let a = address.split('%')[0]!;
  const v4 = a.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const parts = v4[1]!.split('.').map(Number);
    a = `${a.slice(0, -v4[1]!.length)}${((parts[0]! << 8) | parts[1]!).toString(16)}:${((parts[2]! << 8) | parts[3]!).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

/** True when `address` (IPv4 or IPv6, mapped/NAT64 forms unwrapped) is not publicly routable. */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address.split('%')[0]!);
  if (family === 4) return blocked.check(address, 'ipv4');
  if (family !== 6) return true; // not an address at all: refuse
  const b = ipv6Bytes(address);
  const embedded = (at: number) => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
  const zeros = (n: number) => b.slice(0, n).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated, RFC 2765), ::a.b.c.d (compatible),
  // 64:ff9b::a.b.c.d (NAT64): judge the IPv4 inside.
  if (zeros(10) && b[10] === 0xff && b[11] === 0xff) return blocked.check(embedded(12), 'ipv4');
  if (zeros(8) && b[8] === 0xff && b[9] === 0xff && b[10] === 0 && b[11] === 0)
    return blocked.check(embedded(12), 'ipv4');
  if (zeros(12) && !(b[12] === 0 && b[13] === 0 && b[14] === 0 && b[15]! <= 1))
    return blocked.check(embedded(12), 'ipv4');
  if (
    b[0] === 0x00 &&
    b[1] === 0x64 &&
    b[2] === 0xff &&
    b[3] === 0x9b &&
    b.slice(4, 12).every((x) => x === 0)
  )
    return blocked.check(embedded(12), 'ipv4');
  return blocked.check(address.split('%')[0]!, 'ipv6');
}

export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true;
  const h = host.toLowerCase();
  return allowed.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith('*.') ? h.endsWith(e.slice(1)) && h.length > e.length - 1 : h === e;
  });
}

/** Judges `raw` against `policy`; resolves the host with `lookup` unless it is an IP literal. */
export async function checkWebhookUrl(
  raw: string,
  policy: WebhookUrlPolicy,
  lookup: LookupFn = defaultLookup,
): Promise<UrlVerdict> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `'${raw}' is not an absolute URL` };
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp))
    return {
      ok: false,
      reason: `scheme '${url.protocol.slice(0, -1)}' is not allowed; use https${policy.allowHttp ? ' or http' : ''}`,
    };
  if (url.username || url.password) return { ok: false, reason: 'URLs with user:password@ are not allowed' };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!hostAllowed(host, policy.allowedHosts))
    return { ok: false, reason: `host '${host}' is not on the webhook allow-list` };
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await boundedLookup(lookup, host)).map((a) => a.address);
    } catch {
      // The resolver's own message stays out: it is internal detail (and an oracle) for the caller.
      return { ok: false, reason: `host '${host}' does not resolve` };
    }
    if (addresses.length === 0) return { ok: false, reason: `host '${host}' has no addresses` };
  }
  if (!policy.allowPrivate) {
    const bad = addresses.find(isPrivateAddress);
    // Which address is not said: a caller must not learn what an internal name resolves to. An IP
    // literal is the caller's own, so it is named.
    if (bad !== undefined)
      return {
        ok: false,
        reason: `${isIP(host) ? `address ${host} is` : `host '${host}' resolves to`} a loopback, private, link-local or reserved address; webhooks must target a public address`,
      };
  }
  return { ok: true, url, addresses };
}
