// Is an image a delivery names one this trigger may read? S3 objects: the bucket must be on the
// trigger's list (with the key under its prefix) and on the operator's (CGM_API_TRIGGER_BUCKETS), since
// the API reads them with its own credentials. URLs: the host must be on the trigger's list (and on the
// operator's webhook host list when one is set); the address check of the webhook URL policy follows
// when the image is fetched (url-image.ts).
import { hostAllowed, type WebhookUrlPolicy } from '../../core/webhooks/url-policy.js';
import { ApiError } from '../errors.js';
import type { LocatedImage } from './extract.js';
import type { TriggerAllow } from './schemas.js';

export function checkAllowed(
  image: LocatedImage,
  allow: TriggerAllow,
  operator: { buckets: readonly string[]; policy: WebhookUrlPolicy },
): void {
  const { source, field } = image;
  if (source.kind === 's3') {
    const entry = allow.buckets.find((b) => b.bucket === source.bucket && source.key.startsWith(b.prefix));
    if (!entry) {
      const listed = allow.buckets.map((b) => `s3://${b.bucket}/${b.prefix}*`).join(', ') || '(none)';
      throw new ApiError(
        'image_not_allowed',
        `s3://${source.bucket}/${source.key} is outside this trigger's allowed sources: ${listed}`,
        field,
      );
    }
    if (!operator.buckets.includes(source.bucket))
      throw new ApiError(
        'image_not_allowed',
        `bucket '${source.bucket}' is not one the server reads triggers from (CGM_API_TRIGGER_BUCKETS)`,
        field,
      );
    return;
  }
  let url: URL;
  try {
    url = new URL(source.url);
  } catch {
    throw new ApiError('image_not_allowed', `'${source.url.slice(0, 200)}' is not an absolute URL`, field);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && operator.policy.allowHttp))
    throw new ApiError(
      'image_not_allowed',
      `image URL scheme '${url.protocol.slice(0, -1)}' is not allowed; use https`,
      field,
    );
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (allow.urlHosts.length === 0 || !hostAllowed(host, allow.urlHosts))
    throw new ApiError(
      'image_not_allowed',
      `image host '${host}' is not on this trigger's allowed hosts (${allow.urlHosts.join(', ') || 'none'})`,
      field,
    );
  if (!hostAllowed(host, operator.policy.allowedHosts))
    throw new ApiError(
      'image_not_allowed',
      `image host '${host}' is not on the server's host allow-list`,
      field,
    );
}
