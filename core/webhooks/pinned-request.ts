// An HTTP(S) request that dials exactly the address the URL policy checked (url-policy.ts). fetch()
// would resolve the host again, and a name can answer a public address to the check and a private one
// to the dial (DNS rebinding); here the request's own `lookup` returns the checked address, so there is
// no second resolution. TLS still verifies the certificate against the host name (SNI and hostname
// check use the URL's host, not the address). Redirects are never followed (node:http does not).
import type { ClientRequest, IncomingMessage } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

export function pinnedRequest(
  url: URL,
  address: string,
  init: { method: 'GET' | 'POST'; headers: Record<string, string>; signal: AbortSignal },
  onResponse: (res: IncomingMessage) => void,
): ClientRequest {
  const family = isIP(address);
  const lookup: LookupFunction = (_host, options, done) => {
    if (options.all)
      (done as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
    else done(null, address, family);
  };
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return send(
    {
      method: init.method,
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      headers: init.headers,
      lookup,
      signal: init.signal,
    },
    onResponse,
  );
}
