// One webhook POST that dials exactly the address the URL policy checked. fetch() would resolve the host
// again, and a name can answer a public address to the check and a private one to the dial (DNS
// rebinding); here the request's own `lookup` returns the checked address, so there is no second
// resolution. TLS still verifies the certificate against the host name (SNI and hostname check use
// the URL's host, not the address). Redirects are never followed (node:http does not).
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

export interface PinnedAnswer {
  status: number;
  header(name: string): string | undefined;
}

export function postPinned(
  url: URL,
  address: string,
  init: { headers: Record<string, string>; body: string; signal: AbortSignal },
): Promise<PinnedAnswer> {
  const family = isIP(address);
  const lookup: LookupFunction = (_host, options, done) => {
    if (options.all)
      (done as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else done(null, address, family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        method: 'POST',
        protocol: url.protocol,
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
        lookup,
        signal: init.signal,
      },
      (res) => {
        res.resume(); // the receiver's answer body is not used
        resolve({
          status: res.statusCode ?? 0,
          header: (name) => {
            const v = res.headers[name.toLowerCase()];
            return Array.isArray(v) ? v[0] : v;
          },
        });
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}
