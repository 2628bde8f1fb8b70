// A trigger's secret is derived, never stored: HMAC-SHA256 of the operator's webhook secret over the
// trigger id and a random salt kept with the trigger. Reading the stored trigger (or the whole bucket)
// does not give the secret; the API recomputes it to verify a delivery. During a rotation of the
// operator secret (CGM_WEBHOOK_SECRET_PREVIOUS) a delivery may use the secret derived from either.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { SECRET_PREFIX, secretKey } from '../../activities/webhooks/signing.js';

export function triggerSecret(operatorSecret: string, triggerId: string, salt: string): string {
  const key = createHmac('sha256', secretKey(operatorSecret))
    .update(`cgm-trigger\n${triggerId}\n${salt}`)
    .digest();
  return SECRET_PREFIX + key.toString('base64');
}

/** Every secret a delivery to this trigger may be signed with (current first). */
export function triggerSecrets(
  operator: { current?: string; previous?: string },
  triggerId: string,
  salt: string,
): string[] {
  return [operator.current, operator.previous]
    .filter((s): s is string => Boolean(s))
    .map((s) => triggerSecret(s, triggerId, salt));
}

/** Constant-time equality of two strings (different lengths are simply unequal). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
