// POST /v1/hooks/{triggerId}: where outside systems deliver. No API key: the trigger's secret
// authenticates (verify.ts). Every check runs before anything is stored or started: the signature
// and timestamp, the payload's images, the allowed sources, the rate limit, each image's bytes.
// Exactly once: each image's run id is derived from the trigger and the delivery's own id, and runs
// start with REJECT_DUPLICATE, so a redelivery (even a concurrent one) answers with the same run.
import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AppDeps } from '../app.js';
import { canonicalJson, sha256 } from '../canonical.js';
import { ApiError } from '../errors.js';
import { type CheckedImage, checkImage } from '../image-check.js';
import { type AuthEnv, keyIdOf } from '../middleware/auth.js';
import { createTokenBuckets, type TokenBucketLimiter } from '../middleware/rate-limit.js';
import { toWorkflowInput } from '../run-input.js';
import { checkAllowed } from '../triggers/allow.js';
import { describeSource, type LocatedImage, locateImages } from '../triggers/extract.js';
import {
  HookAcceptedSchema,
  HookConfirmedSchema,
  type StoredTrigger,
  TriggerIdSchema,
} from '../triggers/schemas.js';
import { triggerSecrets } from '../triggers/secret.js';
import { checkSubscribeUrl, snsConfirmer } from '../triggers/sns-confirm.js';
import { fetchUrlImage } from '../triggers/url-image.js';
import { verifyDelivery } from '../triggers/verify.js';
import { errorResponses } from './error-responses.js';

export const hookRoute = createRoute({
  method: 'post',
  path: '/v1/hooks/{triggerId}',
  operationId: 'deliverToTrigger',
  summary: 'Deliver an event to a trigger: one counterfactual run per image it names',
  description:
    'No API key: the delivery is authenticated by the trigger secret. `standard-webhooks`: webhook-id, ' +
    'webhook-timestamp (±5 min, else 401 stale_timestamp) and webhook-signature. `s3-events`: the secret in ' +
    '`x-cgm-trigger-secret`, `Authorization: Bearer` or as the Basic password; the body an EventBridge "Object Created" ' +
    'event, an S3 notification or an SNS message carrying one (SubscriptionConfirmation is confirmed: 200). `json-hmac`: ' +
    'the HMAC header the trigger names. 202 names the runs; a redelivery (same webhook-id, same S3 record sequencer and key, ' +
    'same delivery id) answers 202 with the same runs and `replayed: true`. Refused with nothing stored or started: ' +
    '401 invalid_signature / stale_timestamp, 404 unknown_trigger, 409 trigger_paused, 422 image_missing, ' +
    'image_not_allowed, image_url_forbidden, image_fetch_failed, invalid_image, image_dimensions, 413, 429 (per-trigger rate limit).',
  request: {
    params: z.object({ triggerId: TriggerIdSchema.openapi({ param: { name: 'triggerId', in: 'path' } }) }),
    body: {
      required: true,
      // Documented but not validated by a schema: the signature is over the raw bytes, and SNS posts
      // JSON as text/plain.
      content: {
        'application/json': {
          schema: {
            type: 'object',
            description: "the sender's own payload (its shape is set by the trigger's source kind)",
          },
        },
      },
    },
  },
  responses: {
    202: {
      description: 'accepted: the runs of this delivery',
      content: { 'application/json': { schema: HookAcceptedSchema } },
    },
    200: {
      description: 'an SNS subscription (or unsubscription) was confirmed',
      content: { 'application/json': { schema: HookConfirmedSchema } },
    },
    ...errorResponses(400, 401, 404, 409, 413, 422, 429, 503),
  },
});

/** The run id of one image of one delivery: the same delivery id always names the same run. */
export function triggerRunId(triggerId: string, deliveryId: string): string {
  return `cf-trg-${sha256(`${triggerId}\n${deliveryId}`).slice(0, 40)}`;
}

interface Planned {
  image: LocatedImage;
  runId: string;
}

export function registerHookRoute(app: OpenAPIHono<AuthEnv>, deps: AppDeps): void {
  const { config } = deps;
  const limiters = new Map<string, { perMinute: number; burst: number; limiter: TokenBucketLimiter }>();
  const limiterOf = (t: StoredTrigger) => {
    const known = limiters.get(t.id);
    if (known && known.perMinute === t.rateLimit.perMinute && known.burst === t.rateLimit.burst)
      return known.limiter;
    const limiter = createTokenBuckets({ ...t.rateLimit, now: deps.now });
    limiters.set(t.id, { ...t.rateLimit, limiter });
    return limiter;
  };
  const confirm = deps.confirmSubscription ?? snsConfirmer(config.webhookPolicy, deps.lookup);
  const operatorSources = { buckets: config.triggerBuckets, policy: config.webhookPolicy };
  // A trigger lives as long as its key: when the operator removes a key, its triggers stop too.
  const liveKeys = new Set(config.keyHashes.map(keyIdOf));
  const limit = bodyLimit({
    maxSize: config.limits.maxJsonBytes,
    onError: () => {
      throw new ApiError(
        'payload_too_large',
        `request body exceeds ${config.limits.maxJsonBytes} bytes`,
        null,
      );
    },
  });

  async function readImage(image: LocatedImage): Promise<{ bytes: Uint8Array; checked: CheckedImage }> {
    const max = config.limits.maxImageBytes;
    const { source, field } = image;
    let fetched: { bytes: Uint8Array; contentType: string | undefined };
    if (source.kind === 'url') {
      fetched = await fetchUrlImage(source.url, config.webhookPolicy, max, field, deps.lookup);
    } else {
      if (!deps.sources) throw new ApiError('unavailable', 'this server cannot read S3 sources for triggers');
      fetched = await deps.sources.read(source.bucket, source.key, max, field);
    }
    return {
      bytes: fetched.bytes,
      checked: await checkImage(fetched.bytes, fetched.contentType, config.limits, field),
    };
  }

  app.openapi({ ...hookRoute, middleware: [limit] }, async (c) => {
    const { triggerId } = c.req.valid('param');
    const raw = await c.req.text();
    const trigger = await deps.triggers?.get(triggerId);
    if (!trigger || !liveKeys.has(trigger.owner))
      throw new ApiError('unknown_trigger', `no trigger '${triggerId}'`, 'triggerId');
    const secrets = triggerSecrets(config.webhookSecrets, trigger.id, trigger.salt);
    if (secrets.length === 0)
      throw new ApiError(
        'webhooks_not_configured',
        'the server has no webhook secret to derive trigger secrets from',
      );
    const nowSeconds = Math.floor((deps.now?.() ?? Date.now()) / 1000);
    const verified = verifyDelivery(trigger.source, secrets, raw, (n) => c.req.header(n), nowSeconds);
    let doc: unknown;
    try {
      doc = JSON.parse(raw);
    } catch (err) {
      throw new ApiError('malformed_json', `the delivery is not JSON: ${(err as Error).message}`, null);
    }
    const content = locateImages(doc, trigger.image, verified.deliveryId);
    if (content.kind !== 'images') {
      if (content.kind === 'sns-subscription') {
        checkSubscribeUrl(content.subscribeUrl); // before any confirmer: only SNS itself is visited
        await confirm(content.subscribeUrl);
        deps.log?.({ msg: 'sns subscription confirmed', triggerId, messageId: content.messageId });
      }
      return c.json({ triggerId, confirmed: true as const }, 200);
    }
    // The same record twice in one delivery is one image.
    const unique = [...new Map(content.images.map((i) => [i.deliveryId, i])).values()];
    for (const image of unique) checkAllowed(image, trigger.allow, operatorSources);
    const planned: Planned[] = unique.map((image) => ({
      image,
      runId: triggerRunId(trigger.id, image.deliveryId),
    }));
    const existing = await Promise.all(planned.map((p) => deps.runs.describe(p.runId)));
    const fresh = planned.filter((_, i) => !existing[i]);
    // A paused trigger starts nothing; a redelivery of runs already started still gets its answer.
    if (trigger.paused && fresh.length > 0)
      throw new ApiError(
        'trigger_paused',
        `trigger '${triggerId}' is paused; nothing was started (resume it with PATCH /v1/triggers/${triggerId} {"paused": false})`,
        'triggerId',
      );

    if (fresh.length > 0) {
      const waitMs = limiterOf(trigger).take(trigger.id, fresh.length);
      if (waitMs > 0) {
        const seconds = Math.max(1, Math.ceil(waitMs / 1000));
        throw new ApiError(
          'rate_limited',
          `trigger '${triggerId}' may start ${trigger.rateLimit.perMinute} runs a minute (burst ${trigger.rateLimit.burst}); this delivery needs ${fresh.length}; retry in ${seconds} s`,
          null,
          { 'Retry-After': String(seconds) },
        );
      }
    }
    // Every image read and judged before any is stored: one bad image refuses the whole delivery.
    const read: { bytes: Uint8Array; checked: CheckedImage }[] = [];
    for (const p of fresh) read.push(await readImage(p.image));

    const replayed = new Set(planned.filter((_, i) => existing[i]).map((p) => p.runId));
    for (const [i, p] of fresh.entries()) {
      const { bytes, checked } = read[i]!;
      const ref = await deps.images.forKey(trigger.owner).put(bytes, checked.contentType);
      const input = toWorkflowInput(p.runId, ref, trigger.run, config.gpuTaskQueue, trigger.owner);
      const fingerprint = sha256(canonicalJson({ trigger: trigger.id, delivery: p.image.deliveryId }));
      const started = await deps.runs.start(p.runId, input, { fingerprint, owner: trigger.owner });
      if (started === 'exists')
        replayed.add(p.runId); // a concurrent redelivery won the race
      else
        deps.log?.({
          msg: 'run started',
          runId: p.runId,
          keyId: trigger.owner,
          triggerId,
          image: ref.sha256,
        });
    }
    // Runs found already started were recorded by the delivery that started them.
    const at = new Date(deps.now?.() ?? Date.now()).toISOString();
    await Promise.all(
      fresh.map((p) =>
        deps.triggers!.recordRun(trigger.id, {
          runId: p.runId,
          deliveryId: p.image.deliveryId,
          source: describeSource(p.image.source),
          at,
        }),
      ),
    );
    return c.json(
      {
        triggerId,
        runs: planned.map((p) => ({
          id: p.runId,
          statusUrl: `/v1/counterfactuals/${p.runId}`,
          replayed: replayed.has(p.runId),
          deliveryId: p.image.deliveryId,
          source: describeSource(p.image.source),
        })),
      },
      202,
    );
  });
}
