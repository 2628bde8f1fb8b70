// The notify activity: one signed POST per attempt. The webhook id is the caller's (derived from the
// workflow id and event, e.g. `<workflowId>:completed`), so every retry carries the same id and the
// receiver can deduplicate; the timestamp and signature are per attempt, as the spec wants.
// 2xx = delivered; 408, 429, 5xx and network faults retry (429 after Retry-After); any other
// status, a redirect, or a URL the policy refuses is a non-retryable failure.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { WEBHOOK_FAILURE } from '../../core/constants.js';
import {
  checkWebhookUrl,
  type LookupFn,
  STRICT_WEBHOOK_POLICY,
  type WebhookUrlPolicy,
} from '../../core/webhooks/url-policy.js';
import { postPinned } from './pinned-post.js';
import { tenantSecret, WebhookSecretError, webhookHeaders } from './signing.js';

// The failure types and the non-retryable ones live in core/constants.ts, which workflow code imports too.
export { WEBHOOK_FAILURE, WEBHOOK_NON_RETRYABLE_TYPES } from '../../core/constants.js';

/** The JSON body, in the Standard Webhooks payload shape: type, timestamp, data. */
export const WebhookEventSchema = z.object({
  /** e.g. counterfactual.completed, counterfactual.failed. */
  type: z.string().regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, 'expected a dotted event type'),
  /** ISO time of the event (not of the attempt), so every retry sends identical bytes. */
  timestamp: z.iso.datetime(),
  data: z.record(z.string(), z.json()),
});
export type WebhookEvent = z.infer<typeof WebhookEventSchema>;

export interface NotifyWebhookInput {
  url: string;
  /** `whsec_…`; when omitted the factory's secret signs (per tenant, see `tenant`). */
  secret?: string;
  /** The API key id the webhook belongs to: its own derived secret signs (signing.ts tenantSecret). */
  tenant?: string;
  /** The full event, or just its type with `data` (the shape workflows/counterfactual.ts sends). */
  event: WebhookEvent | string;
  data?: Record<string, unknown>;
  /** Stable across retries; receivers deduplicate on it. */
  id: string;
}

export interface NotifyWebhookResult {
  status: number;
  attempt: number;
}

export interface WebhookActivityOptions {
  /** Clock in ms (tests freeze it). */
  now?: () => number;
  /** Default signing secret (the worker's CGM_WEBHOOK_SECRET); without one no webhook is sent. */
  secret?: string;
  /** During a rotation, the secret being replaced (CGM_WEBHOOK_SECRET_PREVIOUS): deliveries carry both signatures. */
  previousSecret?: string;
  policy?: WebhookUrlPolicy;
  lookup?: LookupFn;
  /** Per-attempt request timeout; keep it below the activity's startToCloseTimeout. */
  timeoutMs?: number;
  userAgent?: string;
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (CLI, tests)
  }
}

function retryAfterMs(retryAfter: string | undefined, now: number): number | undefined {
  const v = retryAfter?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function createWebhookActivities(options: WebhookActivityOptions = {}) {
  const now = options.now ?? Date.now;
  const policy = options.policy ?? STRICT_WEBHOOK_POLICY;
  const timeoutMs = options.timeoutMs ?? 15_000;

  async function notifyWebhook(input: NotifyWebhookInput): Promise<NotifyWebhookResult> {
    const ctx = currentContext();
    const attempt = ctx?.info.attempt ?? 1;
    // The current secret first; while a rotation runs, the one being replaced signs too.
    const operatorSecrets = input.secret
      ? [input.secret]
      : options.secret
        ? [options.secret, ...(options.previousSecret ? [options.previousSecret] : [])]
        : [];
    if (operatorSecrets.length === 0)
      throw ApplicationFailure.nonRetryable(
        'no webhook signing secret: set CGM_WEBHOOK_SECRET on the light worker (webhooks are never sent unsigned)',
        WEBHOOK_FAILURE.misconfigured,
      );
    const event =
      typeof input.event === 'string'
        ? { type: WebhookEventSchema.shape.type.parse(input.event), data: input.data ?? {} }
        : WebhookEventSchema.parse(input.event);
    const verdict = await checkWebhookUrl(input.url, policy, options.lookup);
    if (!verdict.ok)
      throw ApplicationFailure.nonRetryable(
        `webhook URL refused: ${verdict.reason}`,
        WEBHOOK_FAILURE.forbidden,
      );
    const body = JSON.stringify(event);
    let headers: ReturnType<typeof webhookHeaders>;
    try {
      // A key's webhooks are signed with its own secret; the operator's own runs with the operator's.
      const secrets = input.tenant
        ? operatorSecrets.map((s) => tenantSecret(s, input.tenant!))
        : operatorSecrets;
      headers = webhookHeaders(secrets, input.id, Math.floor(now() / 1000), body);
    } catch (err) {
      // A malformed secret will not heal on retry: fail at once, saying what to fix.
      if (err instanceof WebhookSecretError)
        throw ApplicationFailure.nonRetryable(err.message, WEBHOOK_FAILURE.misconfigured);
      throw err;
    }
    const signals = [AbortSignal.timeout(timeoutMs), ...(ctx ? [ctx.cancellationSignal] : [])];
    const where = `${verdict.url.origin}${verdict.url.pathname}`; // no query: it may hold tokens
    let res: Awaited<ReturnType<typeof postPinned>>;
    try {
      // The address just checked, not a second resolution (DNS rebinding); redirects are not followed.
      res = await postPinned(verdict.url, verdict.addresses[0], {
        headers: {
          ...headers,
          'content-type': 'application/json',
          'user-agent': options.userAgent ?? 'fm-cgm-webhooks/1',
        },
        body,
        signal: AbortSignal.any(signals),
      });
    } catch (err) {
      if (ctx?.cancellationSignal.aborted) throw err;
      throw ApplicationFailure.retryable(
        `webhook ${where} unreachable (attempt ${attempt}): ${(err as Error).message}`,
        WEBHOOK_FAILURE.transient,
      );
    }
    const status = res.status;
    if (status >= 200 && status < 300) return { status, attempt };
    if (status === 408 || status === 429 || status >= 500) {
      const delay = status === 429 ? retryAfterMs(res.header('retry-after'), now()) : undefined;
      throw ApplicationFailure.create({
        type: WEBHOOK_FAILURE.transient,
        message: `webhook ${where} answered HTTP ${status} (attempt ${attempt}); retrying`,
        nonRetryable: false,
        nextRetryDelay: delay,
        details: [{ status }],
      });
    }
    throw ApplicationFailure.create({
      type: WEBHOOK_FAILURE.rejected,
      message:
        status >= 300 && status < 400
          ? `webhook ${where} redirected (HTTP ${status}); redirects are not followed, register the final URL`
          : `webhook ${where} rejected the delivery with HTTP ${status}; fix the receiver (signature check, route)`,
      nonRetryable: true,
      details: [{ status }],
    });
  }

  return { notifyWebhook };
}

export type WebhookActivities = ReturnType<typeof createWebhookActivities>;
