// Confirms an SNS subscription by visiting its SubscribeURL, which must be an https URL of SNS itself
// (sns.<region>.amazonaws.com): an attacker holding a trigger secret cannot make the API fetch anything
// else. The fetch goes through the webhook URL policy and dials the checked address.
import { checkWebhookUrl, type LookupFn, type WebhookUrlPolicy } from '../../core/webhooks/url-policy.js';
import { ApiError } from '../errors.js';
import { getPinned } from './url-image.js';

const SNS_HOST = /^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

export type SubscriptionConfirmer = (subscribeUrl: string) => Promise<void>;

export function checkSubscribeUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError('validation_error', 'SubscribeURL is not an absolute URL', 'SubscribeURL');
  }
  if (url.protocol !== 'https:' || !SNS_HOST.test(url.hostname) || url.username || url.password)
    throw new ApiError(
      'validation_error',
      `SubscribeURL host '${url.hostname}' is not SNS (expected https://sns.<region>.amazonaws.com/…)`,
      'SubscribeURL',
    );
  return url;
}

export function snsConfirmer(policy: WebhookUrlPolicy, lookup?: LookupFn): SubscriptionConfirmer {
  return async (raw) => {
    const url = checkSubscribeUrl(raw);
    const verdict = await checkWebhookUrl(url.href, { ...policy, allowedHosts: [] }, lookup);
    if (!verdict.ok) throw new ApiError('image_url_forbidden', verdict.reason, 'SubscribeURL');
    await getPinned(verdict.url, verdict.addresses[0]!, 64 * 1024, 'SubscribeURL');
  };
}
