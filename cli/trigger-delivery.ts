// The headers of a test delivery to a trigger, signed the way its source kind expects (the sender's
// side of api/triggers/verify.ts): Standard Webhooks signatures, the secret header of S3-event
// senders, or the trigger's own HMAC header. `cgm triggers send` posts the result.
import { createHmac } from 'node:crypto';
import { webhookHeaders } from '../activities/webhooks/signing.js';
import type { TriggerSource } from '../api/triggers/schemas.js';

export function deliveryHeaders(
  source: TriggerSource,
  secret: string,
  deliveryId: string,
  body: string,
  nowSeconds: number,
): Record<string, string> {
  const json = { 'content-type': 'application/json' };
  switch (source.kind) {
    case 'standard-webhooks':
      return { ...json, ...webhookHeaders(secret, deliveryId, nowSeconds, body) };
    case 's3-events':
      return { ...json, 'x-cgm-trigger-secret': secret };
    case 'json-hmac': {
      const signed = source.timestampHeader ? `${nowSeconds}.${body}` : body;
      const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update(signed).digest(source.encoding);
      return {
        ...json,
        [source.signatureHeader]: `${source.signaturePrefix}${mac}`,
        ...(source.timestampHeader && { [source.timestampHeader]: String(nowSeconds) }),
        ...(source.deliveryIdHeader && { [source.deliveryIdHeader]: deliveryId }),
      };
    }
  }
}
