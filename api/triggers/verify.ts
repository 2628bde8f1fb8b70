// Is this delivery from whoever holds the trigger secret? One check per source kind, each in constant
// time over the raw body, before the body is even parsed. Stale timestamps and bad signatures get
// their own codes, so a sender can tell a clock problem from a secret problem.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { sign, WEBHOOK_TOLERANCE_SECONDS } from '../../activities/webhooks/signing.js';
import { ApiError } from '../errors.js';
import type { TriggerSource } from './schemas.js';
import { sameSecret } from './secret.js';

export type HeaderGetter = (name: string) => string | undefined;

export interface VerifiedDelivery {
  /** The sender's id of this delivery (webhook-id, a delivery header, the body's hash); null for S3 events, whose ids are per record. */
  deliveryId: string | null;
}

const invalid = (message: string, field: string) => new ApiError('invalid_signature', message, field);

function checkTimestamp(raw: string | undefined, field: string, nowSeconds: number): number {
  if (!raw) throw invalid(`missing the ${field} header`, field);
  if (!/^\d{1,12}$/.test(raw))
    throw new ApiError('invalid_signature', `${field} '${raw.slice(0, 40)}' is not Unix seconds`, field);
  const t = Number(raw);
  if (Math.abs(nowSeconds - t) > WEBHOOK_TOLERANCE_SECONDS)
    throw new ApiError(
      'stale_timestamp',
      `${field} ${t} is ${Math.abs(nowSeconds - t)} s from the server's clock; deliveries must be within ±${WEBHOOK_TOLERANCE_SECONDS} s (check the sender's clock, or sign again)`,
      field,
    );
  return t;
}

const equalBytes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

function verifyStandardWebhooks(
  secrets: readonly string[],
  body: string,
  header: HeaderGetter,
  nowSeconds: number,
): VerifiedDelivery {
  const id = header('webhook-id');
  if (!id) throw invalid('missing the webhook-id header (Standard Webhooks)', 'webhook-id');
  if (id.length > 256 || /[\s]/.test(id))
    throw invalid('webhook-id must be 1-256 characters without spaces', 'webhook-id');
  const t = checkTimestamp(header('webhook-timestamp'), 'webhook-timestamp', nowSeconds);
  const signatures = header('webhook-signature');
  if (!signatures) throw invalid('missing the webhook-signature header', 'webhook-signature');
  const expected = secrets.map((s) => Buffer.from(sign(s, id, t, body).slice(3), 'base64'));
  for (const candidate of signatures.split(' ')) {
    const [version, mac] = candidate.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const got = Buffer.from(mac, 'base64');
    if (expected.some((e) => equalBytes(e, got))) return { deliveryId: id };
  }
  throw invalid(
    'no v1 signature in webhook-signature matches the body signed with this trigger’s secret',
    'webhook-signature',
  );
}

/** The secret an S3-event sender presents: a header (EventBridge API destination) or HTTP auth (SNS). */
function presentedSecret(header: HeaderGetter): string | undefined {
  const direct = header('x-cgm-trigger-secret');
  if (direct) return direct.trim();
  const auth = header('authorization');
  const bearer = auth?.match(/^Bearer\s+(\S+)\s*$/i);
  if (bearer) return bearer[1];
  const basic = auth?.match(/^Basic\s+([A-Za-z0-9+/=]+)\s*$/i);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon < 0 ? undefined : decodeURIComponent(decoded.slice(colon + 1));
  }
  return undefined;
}

function verifyS3Events(secrets: readonly string[], header: HeaderGetter): VerifiedDelivery {
  const presented = presentedSecret(header);
  if (!presented)
    throw new ApiError(
      'invalid_signature',
      'missing the trigger secret: send it in x-cgm-trigger-secret, Authorization: Bearer, or as the password of Authorization: Basic',
      'authorization',
      { 'WWW-Authenticate': 'Basic realm="cgm-hook"' },
    );
  if (!secrets.some((s) => sameSecret(s, presented)))
    throw invalid('the presented trigger secret is not this trigger’s', 'authorization');
  return { deliveryId: null };
}

function verifyJsonHmac(
  source: Extract<TriggerSource, { kind: 'json-hmac' }>,
  secrets: readonly string[],
  body: string,
  header: HeaderGetter,
  nowSeconds: number,
): VerifiedDelivery {
  const raw = header(source.signatureHeader);
  if (!raw) throw invalid(`missing the ${source.signatureHeader} header`, source.signatureHeader);
  if (!raw.startsWith(source.signaturePrefix))
    throw invalid(
      `${source.signatureHeader} must start with '${source.signaturePrefix}'`,
      source.signatureHeader,
    );
  const signed = source.timestampHeader
    ? `${checkTimestamp(header(source.timestampHeader), source.timestampHeader, nowSeconds)}.${body}`
    : body;
  const got = Buffer.from(raw.slice(source.signaturePrefix.length).trim(), source.encoding);
  const ok = secrets.some((s) =>
    equalBytes(createHmac('sha256', Buffer.from(s, 'utf8')).update(signed).digest(), got),
  );
  if (!ok)
    throw invalid(
      `${source.signatureHeader} is not the HMAC-SHA256 (${source.encoding}) of the ${source.timestampHeader ? 'timestamp and body' : 'body'} with this trigger’s secret`,
      source.signatureHeader,
    );
  const given = source.deliveryIdHeader ? header(source.deliveryIdHeader) : undefined;
  if (source.deliveryIdHeader && !given)
    throw new ApiError(
      'validation_error',
      `missing the ${source.deliveryIdHeader} header (this trigger's delivery id)`,
      source.deliveryIdHeader,
    );
  // Without a sender id, equal bodies are the same delivery.
  const deliveryId = given?.slice(0, 256) ?? `sha256:${createHash('sha256').update(body).digest('hex')}`;
  return { deliveryId };
}

export function verifyDelivery(
  source: TriggerSource,
  secrets: readonly string[],
  body: string,
  header: HeaderGetter,
  nowSeconds: number,
): VerifiedDelivery {
  switch (source.kind) {
    case 'standard-webhooks':
      return verifyStandardWebhooks(secrets, body, header, nowSeconds);
    case 's3-events':
      return verifyS3Events(secrets, header);
    case 'json-hmac':
      return verifyJsonHmac(source, secrets, body, header, nowSeconds);
  }
}
