// Fetches an image a delivery names by URL, under the webhook URL policy: every address the host
// resolves to must be public (unless the operator allows private ones for development), and the GET
// dials exactly the address that was checked, so DNS rebinding cannot point it inward. No redirects,
// a timeout, and at most `maxBytes` are read; the bytes are judged afterwards like an upload's.
import { pinnedRequest } from '../../core/webhooks/pinned-request.js';
import { checkWebhookUrl, type LookupFn, type WebhookUrlPolicy } from '../../core/webhooks/url-policy.js';
import { ApiError } from '../errors.js';

export const URL_FETCH_TIMEOUT_MS = 10_000;

export interface FetchedImage {
  bytes: Uint8Array;
  contentType: string | undefined;
}

export function getPinned(url: URL, address: string, maxBytes: number, field: string): Promise<FetchedImage> {
  const failed = (why: string) =>
    new ApiError('image_fetch_failed', `GET ${url.href.slice(0, 200)}: ${why}`, field);
  return new Promise((resolve, reject) => {
    const req = pinnedRequest(
      url,
      address,
      {
        method: 'GET',
        headers: { accept: 'image/png, image/jpeg, image/webp' },
        signal: AbortSignal.timeout(URL_FETCH_TIMEOUT_MS),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          reject(
            failed(
              status >= 300 && status < 400
                ? `answered ${status}; redirects are not followed`
                : `answered ${status}`,
            ),
          );
          return;
        }
        const declared = Number(res.headers['content-length']);
        const tooLarge = (n: number) =>
          new ApiError(
            'payload_too_large',
            `the image at the URL is ${n}+ bytes; the limit is ${maxBytes}`,
            field,
          );
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          reject(tooLarge(declared));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > maxBytes) {
            res.destroy();
            reject(tooLarge(total));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () =>
          resolve({ bytes: new Uint8Array(Buffer.concat(chunks)), contentType: res.headers['content-type'] }),
        );
        res.on('error', (err) => reject(failed(err.message)));
      },
    );
    req.on('error', (err) =>
      reject(
        failed(
          err.name === 'TimeoutError' || err.name === 'AbortError'
            ? `no answer within ${URL_FETCH_TIMEOUT_MS} ms`
            : 'the connection failed',
        ),
      ),
    );
    req.end();
  });
}

export async function fetchUrlImage(
  raw: string,
  policy: WebhookUrlPolicy,
  maxBytes: number,
  field: string,
  lookup?: LookupFn,
): Promise<FetchedImage> {
  const verdict = await checkWebhookUrl(raw, policy, lookup);
  if (!verdict.ok) throw new ApiError('image_url_forbidden', verdict.reason, field);
  return getPinned(verdict.url, verdict.addresses[0]!, maxBytes, field);
}
