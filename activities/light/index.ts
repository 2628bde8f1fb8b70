// Light-worker activities that are not VLM calls: writing the run manifest to S3 and delivering the
// signed completion webhook (Standard Webhooks: webhook-id / webhook-timestamp / webhook-signature).
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../../core/artifacts/store.js';
import type { ArtifactRef } from '../../core/schemas/artifact.js';
import { type RunManifest, RunManifestSchema } from '../../core/schemas/run-manifest.js';

export interface LightActivitiesDeps {
  store: Pick<ArtifactStore, 'putJson'>;
  /** `whsec_<base64>` or raw text; unset sends unsigned webhooks. */
  webhookSecret?: string;
  fetch?: typeof fetch;
  now?: () => number;
  webhookTimeoutMs?: number;
}

export interface WebhookInput {
  url: string;
  /** Stable across retries so receivers can drop duplicates, e.g. `${workflowId}:completed`. */
  id: string;
  event: string;
  data: Record<string, unknown>;
}

export const LIGHT_FAILURE = {
  manifestInvalid: 'ManifestInvalid',
  webhookRejected: 'WebhookRejected',
} as const;

function secretKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
}

/** `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>` (Standard Webhooks). */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
  return `v1,${mac}`;
}

export function createLightActivities(deps: LightActivitiesDeps) {
  const doFetch = deps.fetch ?? fetch;
  const now = deps.now ?? Date.now;

  return {
    /** Validates and stores the manifest (content-addressed: rewriting the same manifest is a no-op). */
    async writeManifest(manifest: RunManifest): Promise<ArtifactRef> {
      const parsed = RunManifestSchema.safeParse(manifest);
      if (!parsed.success) {
        throw ApplicationFailure.nonRetryable(
          `run manifest does not match RunManifestSchema: ${parsed.error.message}`,
          LIGHT_FAILURE.manifestInvalid,
        );
      }
      return (await deps.store.putJson(RunManifestSchema, parsed.data, { prefix: 'manifests' })).ref;
    },

    /** POSTs the event; 4xx other than 408/429 is final, anything else retries with the same id. */
    async notifyWebhook(input: WebhookInput): Promise<{ status: number }> {
      const body = JSON.stringify({ type: input.event, data: input.data });
      const timestamp = Math.floor(now() / 1000);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        'webhook-id': input.id,
        'webhook-timestamp': String(timestamp),
      };
      if (deps.webhookSecret)
        headers['webhook-signature'] = signWebhook(deps.webhookSecret, input.id, timestamp, body);
      const res = await doFetch(input.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(deps.webhookTimeoutMs ?? 10_000),
      });
      await res.body?.cancel();
      if (res.ok) return { status: res.status };
      const message = `webhook ${input.url} answered ${res.status}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429)
        throw ApplicationFailure.nonRetryable(
          `${message}; fix the receiver or the URL`,
          LIGHT_FAILURE.webhookRejected,
        );
      throw ApplicationFailure.retryable(message, 'WebhookUnavailable');
    },
  };
}

export type LightActivities = ReturnType<typeof createLightActivities>;
