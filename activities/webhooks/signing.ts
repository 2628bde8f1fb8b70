// Standard Webhooks signatures (standardwebhooks.com, spec v1): webhook-id, webhook-timestamp and
// webhook-signature = "v1,<base64 HMAC-SHA256(key, `${id}.${timestamp}.${body}`)>", where the key is
// the base64 decode of the secret without its `whsec_` prefix. Written on node:crypto so the worker
// needs no extra dependency; the unit tests check it against the `standardwebhooks` package.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SECRET_PREFIX = 'whsec_';
/** Receivers reject timestamps further than this from their clock (spec: 5 minutes). */
export const WEBHOOK_TOLERANCE_SECONDS = 5 * 60;

export interface WebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export class WebhookSecretError extends Error {
  constructor(detail: string) {
    super(`webhook secret ${detail}; expected 'whsec_' followed by base64 of 24-64 random bytes`);
    this.name = 'WebhookSecretError';
  }
}

/** A new secret in the usual `whsec_<base64>` form. */
export function generateWebhookSecret(bytes = 32): string {
  return SECRET_PREFIX + randomBytes(bytes).toString('base64');
}

export function secretKey(secret: string): Buffer {
  const raw = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw)) throw new WebhookSecretError('is not base64');
  const key = Buffer.from(raw, 'base64');
  if (key.length < 24 || key.length > 64) throw new WebhookSecretError(`decodes to ${key.length} bytes`);
  return key;
}

export function signaturePayload(id: string, timestampSeconds: number, body: string): string {
  return `${id}.${timestampSeconds}.${body}`;
}

export function sign(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret))
    .update(signaturePayload(id, timestampSeconds, body))
    .digest('base64');
  return `v1,${mac}`;
}

/**
 * One API key's own signing secret, derived from the operator's secret (HMAC-SHA256 over a fixed label
 * and the key's id): a receiver of one key's webhooks can verify only those, never forge another key's,
 * and the operator stores one secret, not one per key. `GET /v1/webhook-secret` hands it to its key.
 */
export function tenantSecret(operatorSecret: string, tenant: string): string {
  if (tenant.length === 0) throw new Error('tenant id must be non-empty');
  const key = createHmac('sha256', secretKey(operatorSecret))
    .update(`cgm-webhook-tenant\n${tenant}`)
    .digest();
  return SECRET_PREFIX + key.toString('base64');
}

/**
 * The three headers for one delivery attempt. Several secrets give one v1 signature each,
 * space-separated (Standard Webhooks allows several): during a rotation, receivers holding the old
 * secret and those holding the new one both verify.
 */
export function webhookHeaders(
  secret: string | readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): WebhookHeaders {
  if (id.length === 0 || /[\s.]/.test(id))
    throw new Error(`webhook id '${id}' must be non-empty, without spaces or dots`);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new WebhookSecretError('is missing');
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': secrets.map((s) => sign(s, id, timestampSeconds, body)).join(' '),
  };
}

export class WebhookVerifyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerifyError';
  }
}

/**
 * Receiver side, for our own tests and tools: checks the timestamp window and any of the
 * space-separated v1 signatures in constant time over the raw body.
 */
export function verify(
  secret: string,
  body: string,
  headers: Record<string, string | undefined>,
  nowSeconds = Math.floor(Date.now() / 1000),
): void {
  const id = headers['webhook-id'];
  const ts = headers['webhook-timestamp'];
  const sigs = headers['webhook-signature'];
  if (!id || !ts || !sigs) throw new WebhookVerifyError('missing webhook-id, -timestamp or -signature');
  const t = Number(ts);
  if (!/^\d+$/.test(ts) || Math.abs(nowSeconds - t) > WEBHOOK_TOLERANCE_SECONDS)
    throw new WebhookVerifyError(`timestamp ${ts} outside ±${WEBHOOK_TOLERANCE_SECONDS} s`);
  const expected = Buffer.from(sign(secret, id, t, body).slice(3), 'base64');
  for (const candidate of sigs.split(' ')) {
    const [version, mac] = candidate.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const got = Buffer.from(mac, 'base64');
    if (got.length === expected.length && timingSafeEqual(got, expected)) return;
  }
  throw new WebhookVerifyError('no matching signature');
}
