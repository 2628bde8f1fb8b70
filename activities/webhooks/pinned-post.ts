// One webhook POST to exactly the address the URL policy checked (core/webhooks/pinned-request.ts: no
// second DNS resolution, no redirects); the receiver's status and headers are all that is read.
import { pinnedRequest } from '../../core/webhooks/pinned-request.js';

export interface PinnedAnswer {
  status: number;
  header(name: string): string | undefined;
}

export function postPinned(
  url: URL,
  address: string,
  init: { headers: Record<string, string>; body: string; signal: AbortSignal },
): Promise<PinnedAnswer> {
  return new Promise((resolve, reject) => {
    const req = pinnedRequest(
      url,
      address,
      {
        method: 'POST',
        headers: { ...init.headers, 'content-length': String(Buffer.byteLength(init.body)) },
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
